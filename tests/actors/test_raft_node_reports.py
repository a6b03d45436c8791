"""The RaftNode actor tells the core what the transport saw: a peer it could not reach
(report_unreachable), a lost InstallSnapshot (report_snapshot failure) and an installed one
(report_snapshot success); and it stops, reporting once, when the core says StateLost."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from skylock.actors import peer_protocol
from skylock.actors.messages import PeerRaftMessage, PeerUnreachable, Tick
from skylock.actors.outbox import Outbox
from skylock.actors.raft_node import RaftNode
from skylock.raft import (ConfState, Entry, MemoryStorage, Message, MessageType as MT, Ready, Snapshot,
                          SnapshotMeta, StateLost)
from skylock.storage import WAL, SnapshotStore
from tests.net.netutil import wait_until


class FakeRawNode:
    """Records what the actor reports; hands out one Ready with ``outgoing`` messages."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.outgoing: list[Message] = []
        self.lose_state_on_step = False
        self.lock = threading.Lock()

    def _record(self, *call: Any) -> None:
        with self.lock:
            self.calls.append(call)

    def reported(self) -> list[tuple[Any, ...]]:
        with self.lock:
            return [c for c in self.calls if c[0].startswith("report")]

    def step(self, m: Message) -> None:
        self._record("step", m.type, m.frm)
        if self.lose_state_on_step:
            raise StateLost(1979, 0)

    def tick(self) -> None:
        self._record("tick")

    def report_unreachable(self, peer: int) -> None:
        self._record("report_unreachable", peer)

    def report_snapshot(self, peer: int, ok: bool) -> None:
        self._record("report_snapshot", peer, ok)

    def has_ready(self) -> bool:
        return bool(self.outgoing)

    def conf_state(self) -> ConfState:
        return ConfState((1, 2, 3))

    committed_conf_state = conf_state

    def ready(self) -> Ready:
        msgs, self.outgoing = self.outgoing, []
        return Ready(messages=msgs, send_before_persist=True)

    def advance(self, rd: Ready) -> None:
        pass


def start_actor(tmp_path: Path, raw: FakeRawNode, sent: list[tuple[int, bytes]],
                fatal: list[BaseException]) -> Any:
    wal, _ = WAL.open(tmp_path / "wal")
    actor = RaftNode.start(1, raw, MemoryStorage(), ConfState((1, 2, 3)), wal, SnapshotStore(tmp_path / "snap"),
                           lambda to, payload: sent.append((to, payload)), Outbox(lambda c, f: None),
                           {1: {}, 2: {}, 3: {}}, 100, 32 << 20, 6.0, fatal.append)
    actor.proxy().connect(actor, actor).get()  # store and sessions are not used by these tests
    return actor


def test_undeliverable_peer_is_reported_unreachable(tmp_path: Path) -> None:
    raw, sent, fatal = FakeRawNode(), [], []
    actor = start_actor(tmp_path, raw, sent, fatal)
    try:
        actor.tell(PeerUnreachable(3, snapshot_lost=False))
        wait_until(lambda: raw.reported() == [("report_unreachable", 3)], what="report_unreachable")
    finally:
        actor.stop()


def test_lost_snapshot_is_reported_failed_and_an_installed_one_succeeded(tmp_path: Path) -> None:
    raw, sent, fatal = FakeRawNode(), [], []
    actor = start_actor(tmp_path, raw, sent, fatal)
    snap = Snapshot(SnapshotMeta(50, 2, ConfState((1, 2, 3))), b"state")
    try:
        actor.tell(PeerUnreachable(2, snapshot_lost=True))
        wait_until(lambda: raw.reported() == [("report_snapshot", 2, False), ("report_unreachable", 2)],
                   what="a lost snapshot reported")
        # the core sends the snapshot again; the follower's answer from index 50 says it installed it
        raw.outgoing = [Message(MT.SNAP, to=2, frm=1, term=2, snapshot=snap)]
        actor.tell(Tick(0.0))
        wait_until(lambda: len(sent) == 1, what="the snapshot sent")
        assert peer_protocol.is_snapshot(sent[0][1])
        actor.tell(PeerRaftMessage(Message(MT.APP_RESP, to=1, frm=2, term=2, index=50)))
        wait_until(lambda: raw.reported()[2:] == [("report_snapshot", 2, True)], what="an installed snapshot")
        # reported once: a later answer is an ordinary append response
        actor.tell(PeerRaftMessage(Message(MT.APP_RESP, to=1, frm=2, term=2, index=51)))
        wait_until(lambda: raw.calls.count(("step", MT.APP_RESP, 2)) == 2, what="the second answer")
        assert raw.reported()[2:] == [("report_snapshot", 2, True)]
        assert fatal == []
    finally:
        actor.stop()


def test_state_lost_is_reported_once_and_the_actor_goes_quiet(tmp_path: Path) -> None:
    raw, sent, fatal = FakeRawNode(), [], []
    raw.lose_state_on_step = True
    actor = start_actor(tmp_path, raw, sent, fatal)
    try:
        for _ in range(5):
            actor.tell(PeerRaftMessage(Message(MT.HEARTBEAT, to=1, frm=2, term=3, commit=1979)))
        actor.tell(Tick(0.0))
        actor.proxy().node_id.get()  # a round trip through the inbox: everything above was handled
        assert len(fatal) == 1 and isinstance(fatal[0], StateLost)
        assert raw.calls.count(("step", MT.HEARTBEAT, 2)) == 1 and ("tick",) not in raw.calls
    finally:
        actor.stop()


def test_is_snapshot_tells_a_snapshot_payload_from_others() -> None:
    snap = Snapshot(SnapshotMeta(7, 1, ConfState((1, 2))), b"x" * 1000)
    assert peer_protocol.is_snapshot(peer_protocol.encode_raft(Message(MT.SNAP, to=2, frm=1, snapshot=snap)))
    for m in (Message(MT.APP, to=2, frm=1, entries=(Entry(1, 1),)), Message(MT.HEARTBEAT, to=2, frm=1)):
        assert not peer_protocol.is_snapshot(peer_protocol.encode_raft(m))
    assert not peer_protocol.is_snapshot(peer_protocol.encode_peer(peer_protocol.TOUCH, [1, ["s"]]))
