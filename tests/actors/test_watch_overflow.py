"""WatchHub: a connection that cannot keep up, or has gone silent, has its watches ended
with a resync event; watches over the configured limits are refused."""

from __future__ import annotations

import threading

from skylock.actors.messages import AddWatch, ConnectionOverflowed, ConnectionsSeen, RemoveWatch, ReplyTo, SweepWatches
from skylock.actors.outbox import Outbox
from skylock.actors.watch_hub import WatchHub, WatchLimits
from skylock.net import codec
from tests.net.netutil import wait_until


def test_overflow_ends_that_connections_watches_with_a_resync() -> None:
    sent: list[tuple[bytes, object]] = []
    lock = threading.Lock()

    def send(conn_id: bytes, frame: bytes) -> None:
        with lock:
            sent.append((conn_id, codec.parse_server_frame(frame)))

    hub = WatchHub.start(1, Outbox(send), 100, 0)
    try:
        for watch_id, conn, path, kind in ((1, b"slow", "/a", "recursive"), (2, b"slow", "/b", "data"),
                                           (3, b"fast", "/a", "recursive")):
            hub.tell(AddWatch(watch_id, conn, path, kind, None, None, 0, None))
        hub.tell(ConnectionOverflowed(b"slow"))
        wait_until(lambda: len(sent) == 2, what="two resync events")
        events = {(conn, msg.watch_id): msg.event for conn, msg in sent}  # type: ignore[attr-defined]
        assert set(events) == {(b"slow", 1), (b"slow", 2)}
        assert all(e["type"] == "resync" and e["reason"] == "overflow" for e in events.values())
        assert events[(b"slow", 1)]["path"] == "/a" and events[(b"slow", 2)]["path"] == "/b"
        assert hub.proxy().stats().get()["watches"] == 1  # the other connection's watch stays
    finally:
        hub.stop()


class Recorder:
    """An Outbox sink that decodes what the hub sends, by connection."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: list[tuple[bytes, object]] = []

    def send(self, conn_id: bytes, frame: bytes) -> None:
        with self.lock:
            self.sent.append((conn_id, codec.parse_server_frame(frame)))

    def to(self, conn_id: bytes) -> list[object]:
        with self.lock:
            return [msg for conn, msg in self.sent if conn == conn_id]


def add(hub, watch_id: int, conn: bytes, path: str = "/", kind: str = "recursive", result=None) -> None:
    hub.tell(AddWatch(watch_id, conn, path, kind, None, None, 0, ReplyTo(conn, watch_id), result))


def test_watches_over_the_limits_are_refused_with_limit_exceeded() -> None:
    out = Recorder()
    hub = WatchHub.start(1, Outbox(out.send), 100, 0, WatchLimits(per_connection=2, total=3))
    try:
        for watch_id, conn in ((1, b"a"), (2, b"a"), (3, b"a"), (4, b"b"), (5, b"c")):
            add(hub, watch_id, conn)
        wait_until(lambda: len(out.sent) == 5, what="five replies")
        codes = {m.id: (m.error.code if m.error else "ok") for m in [msg for _, msg in out.sent]}  # type: ignore[attr-defined]
        assert codes == {1: "ok", 2: "ok", 3: "LimitExceeded", 4: "ok", 5: "LimitExceeded"}
        assert hub.proxy().stats().get()["watches"] == 3
        hub.tell(RemoveWatch(1, None))
        add(hub, 6, b"c", result={"data": b"x", "zxid": 0, "watch_id": 6})  # a read that sets a watch
        wait_until(lambda: len(out.to(b"c")) == 2, what="the read's reply")
        assert out.to(b"c")[-1].result == {"data": b"x", "zxid": 0, "watch_id": 6}  # type: ignore[attr-defined]
    finally:
        hub.stop()


def test_the_watches_of_a_silent_connection_end_and_a_heard_one_keeps_them() -> None:
    now = [100.0]
    out = Recorder()
    hub = WatchHub.start(1, Outbox(out.send), 100, 0, WatchLimits(idle_timeout=30.0), clock=lambda: now[0])
    try:
        def at(t: float, *messages: object) -> None:
            """Deliver messages with the hub's clock at ``t`` (the stats call waits for them)."""
            now[0] = t
            for message in messages:
                hub.tell(message)
            hub.proxy().stats().get()

        add(hub, 1, b"gone", "/a")
        add(hub, 2, b"alive", "/b", "data")
        at(100.0)
        at(120.0, ConnectionsSeen(frozenset({b"alive", b"stranger"})))
        at(140.0, SweepWatches())
        wait_until(lambda: len(out.to(b"gone")) == 2, what="the resync of the silent connection")
        event = out.to(b"gone")[-1].event  # type: ignore[attr-defined]
        assert event["type"] == "resync" and event["reason"] == "idle" and event["path"] == "/a"
        stats = hub.proxy().stats().get()
        assert stats["watches"] == 1 and stats["connections"] == 1
        at(151.0, SweepWatches())
        wait_until(lambda: hub.proxy().stats().get()["watches"] == 0, what="the other one ending too")
        assert out.to(b"alive")[-1].event["reason"] == "idle"  # type: ignore[attr-defined]
    finally:
        hub.stop()
