"""Client.watch returns a handle; cancel() ends the watch (here and on the server)."""

from __future__ import annotations

import threading

from skylock.client import Election, Event
from tests.integration.cluster import LocalCluster, wait_until


class Collector:
    def __init__(self) -> None:
        self.paths: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.paths.append(event.path)

    def saw(self, path: str) -> bool:
        with self._lock:
            return path in self.paths


def test_a_cancelled_watch_gets_no_more_events(cluster: LocalCluster) -> None:
    client = cluster.client()
    client.create("/wc")
    cancelled, barrier = Collector(), Collector()
    handle = client.watch("/wc", cancelled, kind="recursive")
    client.watch("/wc", barrier, kind="recursive")
    client.create("/wc/a")
    wait_until(lambda: cancelled.saw("/wc/a") and barrier.saw("/wc/a"), what="both watches to fire")
    assert handle.active and handle.path == "/wc"
    handle.cancel()
    handle.cancel()  # idempotent
    assert not handle.active
    client.create("/wc/b")
    client.create("/wc/c")  # the barrier's events come in zxid order: once /wc/c is in, /wc/b would be too
    wait_until(lambda: barrier.saw("/wc/c"), what="the barrier watch to see both writes")
    assert not cancelled.saw("/wc/b") and not cancelled.saw("/wc/c")
    client.close()


def test_election_close_resigns_and_stops_observing(cluster: LocalCluster) -> None:
    leader_client, other_client = cluster.client(), cluster.client()
    leader_client.start_session("close-a", ttl=10)
    other_client.start_session("close-b", ttl=10)
    changes: list[str | None] = []
    first = Election(leader_client, "closing", "a")
    first.on_leader_change(changes.append)
    assert changes == [None]  # nobody leads yet
    assert first.campaign(timeout=5)
    wait_until(lambda: changes == [None, "a"], what="the observer to see a lead")
    second = Election(other_client, "closing", "b")
    granted = threading.Event()
    thread = threading.Thread(target=lambda: second.campaign(timeout=20) and granted.set())
    thread.start()
    wait_until(lambda: leader_client.lock_info("closing")["waiters"], what="b to queue")
    with first:  # leaving the block closes: resigns and ends the observer watch
        pass
    thread.join(timeout=20)
    assert granted.is_set() and second.is_leader and not first.is_leader
    assert changes == [None, "a"]  # closed before b took over: no callback after close
    second.close()
    for c in (leader_client, other_client):
        c.close()
