"""One simulated server: a RawNode driven by the same loop a real node runs.

For every Ready: persist (hard state, entries, snapshot) to the Disk model
(a leader whose term and vote are unchanged sends first: `send_before_persist`),
mirror into MemoryStorage, send the messages, apply committed entries, serve
read states, advance. The state machine is a hash chain over the applied
entries, so comparing two nodes' states at an index compares their whole
applied prefixes. A crash drops everything but the Disk; a restart rebuilds
MemoryStorage from it and re-applies from the snapshot, since applied state
is volatile.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from skylock.raft import ConfState, Config, MemoryStorage, RawNode, Ready, Role

from .disk import Disk
from .invariants import Checker


@dataclass(frozen=True, slots=True)
class NodeParams:
    """The knobs of the core that a seed varies."""

    election_tick: int = 10
    #: exclusive bound of the randomized election timeout; 0 = the core's default 2*election_tick
    max_election_tick: int = 0
    heartbeat_tick: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_inflight_msgs: int = 256
    max_size_per_msg: int = 1 << 20
    #: lease-based reads (0: every read takes a ReadIndex round)
    lease_ticks: int = 0
    #: each node's clock runs at a rate in [1 - skew, 1 + skew] of the world's (the skew fault
    #: redraws it); lease runs keep it within what their lease_ticks allows for
    clock_skew: float = 0.0


def chain_step(chain: bytes, term: int, index: int, data: bytes) -> bytes:
    """The state after applying one entry: a digest of the whole applied prefix."""
    return hashlib.blake2b(b"%b|%d|%d|%b" % (chain, term, index, data), digest_size=12).digest()


class SimNode:
    """A node's volatile half (RawNode, storage, state machine) over its Disk."""

    def __init__(self, node_id: int, conf: ConfState, params: NodeParams, rng: random.Random,
                 checker: Checker, cluster) -> None:
        self.id = node_id
        self.conf = conf
        self.params = params
        self._rng = rng
        self.checker = checker
        self.cluster = cluster
        self.disk = Disk(conf)
        checker.disks[node_id] = self.disk
        self.incarnation = 0
        self.raw: RawNode | None = None
        self.storage: MemoryStorage | None = None
        self.role = Role.FOLLOWER
        self.leader = 0
        self.applied = 0
        self.chain = b""
        #: ticks per world tick, and the fraction of a tick accumulated so far
        self.clock_rate = 1.0
        self._clock = 0.0
        #: ReadStates served, as (index, ctx)
        self.read_states: list[tuple[int, bytes]] = []

    @property
    def alive(self) -> bool:
        return self.raw is not None

    @property
    def term(self) -> int:
        return self.disk.hard_state.term

    # ---- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Boot (or reboot) from what is on disk."""
        self.incarnation += 1
        self.storage = self.disk.restore()
        snap = self.disk.snapshot
        self.applied = snap.meta.index
        self.chain = snap.data
        p = self.params
        cfg = Config(id=self.id, election_tick=p.election_tick,
                     max_election_tick=p.max_election_tick, heartbeat_tick=p.heartbeat_tick,
                     rng=random.Random(self._rng.getrandbits(64)), pre_vote=p.pre_vote,
                     check_quorum=p.check_quorum, max_inflight_msgs=p.max_inflight_msgs,
                     max_size_per_msg=p.max_size_per_msg, applied=self.applied, lease_ticks=p.lease_ticks)
        self.raw = RawNode(cfg, self.storage)
        self.role = Role.FOLLOWER
        self.leader = 0

    def ticks_due(self) -> int:
        """How many times this node's clock ticks in this world tick (its rate may differ)."""
        self._clock += self.clock_rate
        due = int(self._clock)
        self._clock -= due
        return due

    def crash(self) -> None:
        """Lose everything that was not persisted."""
        self.raw = None
        self.storage = None
        self.role = Role.FOLLOWER
        self.leader = 0
        self.checker.on_not_leader(self.id)

    # ---- the app loop ------------------------------------------------------------

    def drain(self) -> None:
        raw = self.raw
        while self.raw is raw and raw.has_ready():
            self._handle(raw.ready())

    def _handle(self, rd: Ready) -> None:
        disk, storage, checker = self.disk, self.storage, self.checker
        # A leader may send before its own fsync (thesis 10.2.1) or after it, as it likes:
        # explore both. A crash right after sending loses its copy of entries that
        # followers may already hold.
        send_first = rd.send_before_persist and self.cluster.rng.random() < 0.5
        if send_first:
            self._send(rd)
            if rd.entries and self.cluster.crash_leader_now():
                self.cluster.crash(self, "crash_before_fsync")
                return
        # 1. persist (one fsync), then mirror into storage
        if rd.snapshot is not None:
            disk.install_snapshot(rd.snapshot)
        if rd.entries:
            checker.on_persisted(self.id, disk.append(rd.entries))
            if self.role == Role.LEADER:
                checker.on_appended_as_leader(self.id, disk.hard_state.term, disk)
        old_commit = disk.hard_state.commit
        if rd.hard_state is not None:
            disk.set_hard_state(rd.hard_state)
        if rd.snapshot is not None:
            storage.apply_snapshot(rd.snapshot)
        if rd.entries:
            storage.append(list(rd.entries))
        if rd.hard_state is not None:
            storage.set_hard_state(rd.hard_state)
            new_commit = rd.hard_state.commit
            if new_commit > old_commit:
                as_leader = self.role == Role.LEADER and (
                    rd.soft_state is None or rd.soft_state.role == Role.LEADER)
                checker.on_commit(self.id, disk.hard_state.term, disk, old_commit, new_commit,
                                  as_leader)
                if as_leader:
                    checker.on_leader_commit(self.id, disk.hard_state.term, disk, new_commit)
        if rd.soft_state is not None and rd.soft_state.role == Role.LEADER:
            checker.on_leader(self.id, disk.hard_state.term, disk)
            self.cluster.trace(("lead", self.cluster.now, self.id, disk.hard_state.term))
            self.role = Role.LEADER
        if self.role == Role.LEADER and (rd.soft_state is not None or rd.entries or (
                rd.hard_state is not None and rd.hard_state.commit > old_commit)):
            if self.cluster.crash_leader_now():
                # just elected, appended or committed: killed after the fsync, before
                # sending a byte, so nobody else knows (the paper's Figure 8 instants)
                self.cluster.crash(self, "crash_mid_ready")
                return
        if rd.soft_state is not None:
            self.leader = rd.soft_state.leader
            if rd.soft_state.role in (Role.PRE_CANDIDATE, Role.CANDIDATE):
                checker.on_campaign(self.id, disk.hard_state.term, disk)
            if rd.soft_state.role != Role.LEADER:
                if self.role == Role.LEADER:
                    checker.on_not_leader(self.id)
                self.role = rd.soft_state.role
        # 2. send (unless already sent)
        if not send_first:
            self._send(rd)
        # 3. apply
        if rd.snapshot is not None:
            meta = rd.snapshot.meta
            if meta.index > self.applied:
                self.applied = meta.index
                self.chain = rd.snapshot.data
                checker.on_snapshot_applied(self.id, meta.index, meta.term, self.chain)
        for e in rd.committed_entries:
            if e.index != self.applied + 1:
                raise AssertionError(
                    f"node {self.id} asked to apply index {e.index} after {self.applied}")
            self.chain = chain_step(self.chain, e.term, e.index, e.data)
            self.applied = e.index
            checker.on_apply(self.id, e, self.chain)
            if e.data:
                self.cluster.on_applied(self, e)
        for rs in rd.read_states:
            checker.on_read_state(self.id, rs.index, rs.context)
            self.read_states.append((rs.index, rs.context))
        self.raw.advance(rd)

    def _send(self, rd: Ready) -> None:
        send = self.cluster.send
        for m in rd.messages:
            send(self, m)

    # ---- log compaction ------------------------------------------------------------

    def compact(self) -> bool:
        """Snapshot the applied state and drop the log up to it.

        Followers that have not received those entries yet now need
        InstallSnapshot, which is the point of doing this in the simulation.
        """
        index = self.applied
        if index <= self.disk.snapshot.meta.index:
            return False
        conf = self.raw.conf_state_at(index)
        on_disk = self.disk.conf_at(index)
        if conf != on_disk:
            raise AssertionError(f"node {self.id}: configuration at {index} is {conf}, the log says {on_disk}")
        self.storage.create_snapshot(index, conf, self.chain)
        snap = self.storage.snapshot()
        self.storage.compact(index)
        self.disk.compact(snap)
        return True
