"""The callback contract: watch callbacks and state listeners run in order on the client's
one event thread, never on its I/O thread, so they may call the client. Real cluster."""

from __future__ import annotations

import threading

from skylock.client import Event, SessionState
from tests.integration.cluster import LocalCluster, wait_until


class Seen:
    """What the callbacks saw, and on which thread, read safely from the test's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[object] = []
        self.threads: set[str] = set()

    def add(self, item: object) -> None:
        with self._lock:
            self.items.append(item)
            self.threads.add(threading.current_thread().name)

    def count(self) -> int:
        with self._lock:
            return len(self.items)


def test_a_callback_that_rearms_its_watch_and_writes_gets_every_later_event(cluster: LocalCluster) -> None:
    client, writer = cluster.client(request_timeout=5.0), cluster.client()
    client.create("/rearm", b"0")
    client.create("/rearm-log")
    seen = Seen()

    def on_change(event: Event) -> None:
        data, _stat = client.get("/rearm", watch=on_change)  # the ZooKeeper idiom: read and watch again
        client.create(f"/rearm-log/{data.decode()}")  # and a write through the same client
        seen.add((event.type, data))

    client.get("/rearm", watch=on_change)
    for i in range(1, 6):
        writer.set("/rearm", str(i))
        wait_until(lambda i=i: seen.count() == i, timeout=10, what=f"the event of write {i}")
    assert seen.items == [("data_changed", str(i).encode()) for i in range(1, 6)]
    assert sorted(writer.children("/rearm-log")) == ["1", "2", "3", "4", "5"]
    assert seen.threads == {"skylock-events"}
    client.close()
    writer.close()


def test_a_slow_callback_stalls_later_callbacks_but_not_the_client(cluster: LocalCluster) -> None:
    client, writer = cluster.client(request_timeout=3.0), cluster.client()
    client.create("/slow")
    release, order = threading.Event(), Seen()

    def slow(event: Event) -> None:
        order.add(("slow", event.path))
        release.wait(30)

    client.watch("/slow", slow, kind="recursive")
    writer.create("/slow/1")
    wait_until(lambda: order.count() == 1, what="the slow callback to start")
    # Registering a watch needs the I/O thread: it must still read replies.
    assert client.exists("/slow/2", watch=lambda e: order.add(("fast", e.path))) is None
    writer.create("/slow/2")
    assert client.get("/slow/2")[0] == b""
    assert order.count() == 1  # later callbacks wait their turn
    release.set()
    wait_until(lambda: order.count() == 3, what="the queued callbacks")
    # (the server may push one write's events to its two watches in either order)
    assert order.items[0] == ("slow", "/slow/1")
    assert set(order.items[1:]) == {("slow", "/slow/2"), ("fast", "/slow/2")}
    client.close()
    writer.close()


def test_state_listeners_run_on_the_event_thread_and_may_call_the_client(cluster: LocalCluster) -> None:
    client = cluster.client()
    heard = Seen()
    client.add_listener(lambda state: heard.add((state, client.exists("/"))))
    client.start_session("listener", ttl=10)
    wait_until(lambda: heard.count() == 1, what="the listener to hear of the session")
    state, root = heard.items[0]  # type: ignore[misc]
    assert state == SessionState.CONNECTED and root is not None
    client.close()
    assert heard.count() == 2 and heard.items[1][0] == SessionState.CLOSED  # type: ignore[index]
    assert heard.threads == {"skylock-events"}
