"""Regression tests for bugs the fault suite found (see tests/fault/FINDINGS.md)."""

from __future__ import annotations

from skylock.actors.pending import PendingRequests


def test_pending_tags_do_not_repeat_across_restarts() -> None:
    """F1: a restarted node re-applies entries it proposed before the crash; if its new
    requests reuse those tags, clients get old entries' results (seed 66340050)."""
    before, after = PendingRequests(), PendingRequests()  # two incarnations of one node
    old = {before.next_tag() for _ in range(1000)}
    new = {after.next_tag() for _ in range(1000)}
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
