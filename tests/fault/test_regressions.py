"""Regression tests for bugs the fault suite found (see tests/fault/FINDINGS.md)."""

from __future__ import annotations

from skylock.actors.messages import Propose
from skylock.actors.proposals import ProposalTable


def test_pending_tags_do_not_repeat_across_restarts() -> None:
    """F1: a restarted node re-applies entries it proposed before the crash; if its new
    requests reuse those tags, clients get old entries' results (seed 66340050)."""
    before, after = ProposalTable(1), ProposalTable(1)  # two incarnations of one node
    old = {before.add(Propose({"op": "noop"}), 0.0)[0] for _ in range(1000)}
    new = {after.add(Propose({"op": "noop"}), 0.0)[0] for _ in range(1000)}
    assert not old & new


def test_watch_resumed_on_a_lagging_node_gets_no_event_it_already_saw() -> None:
    """F3: a watch resumed from zxid 419 on a node that had applied only ~200 replayed
    events 203.. as that node caught up: duplicates, zxids going backwards (seed 1821665123)."""
    from skylock.actors.messages import AddWatch, PublishEvents
    from skylock.actors.watch_hub import WatchHub
    from skylock.state import EventType, WatchEvent

    sent: list[tuple[int, dict]] = []

    class Outbox:
        def ok(self, reply, result):  # noqa: ANN001 - test double
            pass

        def event(self, conn_id, watch_id, event):  # noqa: ANN001
            sent.append((watch_id, event))

    hub = WatchHub.start(1, Outbox(), history_size=100, start_zxid=0)
    try:
        hub.tell(AddWatch(7, b"c", "/w", "recursive", None, from_zxid=10, current_zxid=5, reply=None))
        events = tuple(WatchEvent(EventType.DATA_CHANGED, "/w/k", z) for z in range(6, 13))
        hub.ask(PublishEvents(events))  # ask: returns once the hub has handled it
    finally:
        hub.stop()
    assert [e["zxid"] for _, e in sent] == [11, 12]


def test_a_follower_answers_heartbeats_only_once_the_leader_took_them() -> None:
    """F4: a follower answered heartbeats while partitioned from the leader, so its clients
    kept a session the leader then expired (seed 1466091340). Now a follower holds each
    heartbeat until the leader acknowledges the batch that carried it, and the leader answers
    or acknowledges only after a ReadIndex round confirms it still leads; a batch left
    unacknowledged, or sent to a leader that is no longer one, is answered NoLeader."""
    import threading
    import time

    from skylock.actors import peer_protocol
    import pykka

    from skylock.actors.messages import (CheckSessions, Heartbeat, LeadershipChanged, PeerTouches,
                                         PeerTouchesAcked, ReplyTo, SessionsChanged, TouchesConfirmed)
    from skylock.actors.session_manager import SessionManager
    from tests.net.netutil import wait_until

    answers: list[tuple[int, str]] = []
    sent: list[tuple[int, tuple[str, object]]] = []
    lock = threading.Lock()

    class Outbox:
        def ok(self, reply, result):  # noqa: ANN001 - test double
            with lock:
                answers.append((reply.request_id, "ok"))

        def error(self, reply, err):  # noqa: ANN001
            with lock:
                answers.append((reply.request_id, type(err).__name__))

    def send(to: int, payload: bytes) -> None:
        with lock:
            sent.append((to, peer_protocol.decode_peer(payload)))

    def answered() -> list[tuple[int, str]]:
        with lock:
            out = list(answers)
            answers.clear()
            return out

    reads: list[object] = []

    class Raft(pykka.ThreadingActor):  # stands in for RaftNode: records what must be confirmed
        def on_receive(self, message):  # noqa: ANN001
            with lock:
                reads.append(message.query)

    raft = Raft.start()
    follower = SessionManager.start(3, Outbox(), send, 0.05)  # ack_wait: 0.2 s
    leader = SessionManager.start(2, Outbox(), send, 0.05)
    leader.proxy().connect(raft).get()
    follower.proxy().connect(raft).get()
    try:
        for manager, is_leader in ((follower, False), (leader, True)):
            manager.ask(LeadershipChanged(2, 1, is_leader))
            manager.ask(SessionsChanged(opened={"s1": 3000}))
        follower.ask(Heartbeat("s1", ReplyTo(b"c", 1)))
        assert answered() == []  # held until the leader takes it
        with lock:  # nothing was in flight, so the batch left at once
            assert sent[-1] == (2, (peer_protocol.TOUCH, [1, ["s1"]]))
        leader.ask(PeerTouches(3, 1, ("s1",)))
        wait_until(lambda: len(reads) == 1, what="the leader to ask for a ReadIndex")
        with lock:  # the leader acknowledges only once it is confirmed as leader
            assert (reads[0].op, reads[0].args) == ("session.touches", {"frm": 3, "batch_id": 1})
            assert sent[-1][1][0] == peer_protocol.TOUCH
        leader.ask(TouchesConfirmed(3, 1))
        with lock:
            assert sent[-1] == (3, (peer_protocol.TOUCH_ACK, 1))
        follower.ask(PeerTouchesAcked(2, 1))
        assert answered() == [(1, "ok")]

        # cut off: the batch is never acknowledged, so the client hears no in time
        now = time.monotonic()
        follower.ask(Heartbeat("s1", ReplyTo(b"c", 2)))
        follower.ask(PeerTouchesAcked(1, 2))  # not from the leader: does not count
        follower.ask(CheckSessions(now + 0.1))
        assert answered() == []
        follower.ask(CheckSessions(now + 1.0))  # past ack_wait
        assert answered() == [(2, "NoLeader")]

        # a leader change refuses what went to the old leader; no leader at all: no at once
        follower.ask(Heartbeat("s1", ReplyTo(b"c", 3)))
        follower.ask(LeadershipChanged(0, 2, False))
        follower.ask(Heartbeat("s1", ReplyTo(b"c", 4)))
        assert answered() == [(3, "NoLeader"), (4, "NoLeader")]

        # becoming leader answers what it held: every deadline restarts at a full TTL
        follower.ask(LeadershipChanged(1, 3, False))
        follower.ask(Heartbeat("s1", ReplyTo(b"c", 5)))
        follower.ask(LeadershipChanged(3, 4, True))
        assert answered() == [(5, "ok")]
        leader.ask(Heartbeat("s1", ReplyTo(b"c", 6)))
        assert answered() == []  # the leader too answers only after a ReadIndex round
        wait_until(lambda: len(reads) == 2, what="the leader to ask for a ReadIndex")
        with lock:
            assert (reads[1].op, reads[1].reply.request_id) == ("session.check", 6)
    finally:
        follower.stop()
        leader.stop()
        raft.stop()
