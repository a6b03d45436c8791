"""WatchHub: a connection that cannot keep up has its watches ended with a resync event."""

from __future__ import annotations

import threading

from skylock.actors.messages import AddWatch, ConnectionOverflowed
from skylock.actors.outbox import Outbox
from skylock.actors.watch_hub import WatchHub
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
