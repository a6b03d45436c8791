"""A tiny in-memory cluster for the Raft tests: nodes, a message queue, partitions.

It runs the application loop of the README exactly (persist, then send, then apply, then
advance) and records what happened so transcript tests can print it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from skylock.raft import (Config, ConfState, Entry, MemoryStorage, Message, RawNode, Ready)


class Cluster:
    def __init__(self, n: int, *, election_tick: int = 10, heartbeat_tick: int = 1,
                 pre_vote: bool = True, check_quorum: bool = True, max_inflight_msgs: int = 256,
                 max_size_per_msg: int = 1 << 20) -> None:
        ids = tuple(range(1, n + 1))
        self.storages: dict[int, MemoryStorage] = {}
        self.nodes: dict[int, RawNode] = {}
        self.applied: dict[int, list[Entry]] = {}
        self.read_states: dict[int, list] = {}
        self.queue: list[Message] = []  # sent, not yet delivered
        self.groups: list[set[int]] | None = None
        self.down: set[int] = set()
        self.on_ready: Callable[[int, Ready], None] | None = None
        self.on_deliver: Callable[[Message, bool], None] | None = None
        for i in ids:
            st = MemoryStorage()
            st.bootstrap(ConfState(voters=ids))
            self.storages[i] = st
            self.nodes[i] = RawNode(Config(
                id=i, election_tick=election_tick, heartbeat_tick=heartbeat_tick,
                rng=random.Random(i), pre_vote=pre_vote, check_quorum=check_quorum,
                max_inflight_msgs=max_inflight_msgs, max_size_per_msg=max_size_per_msg), st)
            self.applied[i] = []
            self.read_states[i] = []

    def raft(self, i: int):
        return self.nodes[i].raft

    # ---- the application loop ----------------------------------------------

    def process_ready(self, *ids: int) -> bool:
        """Run the Ready loop on ``ids`` (default all); True if anything happened."""
        did = False
        for i in ids or tuple(self.nodes):
            node, st = self.nodes[i], self.storages[i]
            while node.has_ready():
                did = True
                rd = node.ready()
                if self.on_ready:
                    self.on_ready(i, rd)
                st.apply_snapshot(rd.snapshot)
                st.append(rd.entries)
                st.set_hard_state(rd.hard_state)
                self.queue.extend(rd.messages)
                if rd.snapshot is not None:
                    self.applied[i] = [Entry(rd.snapshot.meta.term, rd.snapshot.meta.index,
                                             data=b"<snapshot>")]
                self.applied[i].extend(rd.committed_entries)
                self.read_states[i].extend(rd.read_states)
                node.advance(rd)
        return did

    def connected(self, a: int, b: int) -> bool:
        if a in self.down or b in self.down:
            return False
        if self.groups is None:
            return True
        return any(a in g and b in g for g in self.groups)

    def deliver(self, *to: int) -> bool:
        """Deliver queued messages (only those addressed to ``to`` if given)."""
        keep, send = [], []
        for m in self.queue:
            (send if not to or m.to in to else keep).append(m)
        self.queue = keep
        for m in send:
            ok = self.connected(m.frm, m.to)
            if self.on_deliver:
                self.on_deliver(m, ok)
            if ok:
                self.nodes[m.to].step(m)
        return bool(send)

    def stabilize(self, limit: int = 1000) -> None:
        for _ in range(limit):
            if not (self.process_ready() | self.deliver()):
                return
        raise AssertionError("cluster did not stabilize")

    def partition(self, *groups: set[int]) -> None:
        self.groups = [set(g) for g in groups]

    def heal(self) -> None:
        self.groups = None

    def tick(self, i: int, n: int = 1) -> None:
        for _ in range(n):
            self.nodes[i].tick()

    def elect(self, i: int) -> None:
        self.nodes[i].campaign()
        self.stabilize()

    def compact(self, i: int, index: int) -> None:
        """What the application does after applying ``index``: snapshot, then compact."""
        st = self.storages[i]
        st.create_snapshot(index, st.snapshot().meta.conf, b"state@%d" % index)
        st.compact(index)
