"""The client-side read/write lock recipe against a real cluster."""

from __future__ import annotations

import threading

from skylock.client import Client, ReadWriteLock
from tests.integration.cluster import LocalCluster, wait_until


def session_client(cluster: LocalCluster, name: str) -> Client:
    client = cluster.client()
    client.start_session(name, ttl=10.0)
    return client


def queued(client: Client, name: str) -> list[str]:
    return sorted(client.children(f"/rwlocks/{name}"), key=lambda c: int(c.rsplit("-", 1)[1]))


def test_readers_share(cluster: LocalCluster) -> None:
    a, b = session_client(cluster, "r-a"), session_client(cluster, "r-b")
    with ReadWriteLock(a, "shared").read_lock():
        second = ReadWriteLock(b, "shared").read_lock()
        assert second.acquire(timeout=5)
        second.release()
    assert queued(a, "shared") == []


def test_writer_excludes_readers_and_writers(cluster: LocalCluster) -> None:
    a, b, c = (session_client(cluster, f"w-{x}") for x in "abc")
    writer = ReadWriteLock(a, "exclusive").write_lock()
    assert writer.acquire(timeout=5)
    assert ReadWriteLock(b, "exclusive").read_lock().acquire(timeout=0.5) is False
    assert ReadWriteLock(c, "exclusive").write_lock().acquire(timeout=0.5) is False
    assert len(queued(a, "exclusive")) == 1  # the losers left the queue
    writer.release()
    reader = ReadWriteLock(b, "exclusive").read_lock()
    assert reader.acquire(timeout=5)
    assert ReadWriteLock(c, "exclusive").write_lock().acquire(timeout=0.5) is False
    reader.release()


def test_fifo_a_waiting_writer_holds_back_later_readers(cluster: LocalCluster) -> None:
    r1, w, r2 = (session_client(cluster, f"f-{x}") for x in ("r1", "w", "r2"))
    order: list[str] = []
    first = ReadWriteLock(r1, "fair").read_lock()
    assert first.acquire(timeout=5)

    def take(client: Client, kind: str, label: str) -> None:
        rw = ReadWriteLock(client, "fair")
        side = rw.write_lock() if kind == "write" else rw.read_lock()
        assert side.acquire(timeout=30)
        order.append(label)
        side.release()

    writer = threading.Thread(target=take, args=(w, "write", "writer"))
    writer.start()
    wait_until(lambda: len(queued(r1, "fair")) == 2, what="writer queued")
    reader = threading.Thread(target=take, args=(r2, "read", "late reader"))
    reader.start()
    wait_until(lambda: len(queued(r1, "fair")) == 3, what="late reader queued")
    assert order == []  # the late reader waits behind the writer, though a reader holds
    first.release()
    writer.join(timeout=30)
    reader.join(timeout=30)
    assert order == ["writer", "late reader"]


def test_many_threads_writers_never_overlap(cluster: LocalCluster) -> None:
    clients = [session_client(cluster, f"m-{i}") for i in range(4)]
    state = {"readers": 0, "writers": 0, "bad": 0, "reads": 0, "writes": 0}
    guard = threading.Lock()

    def enter(kind: str) -> None:
        with guard:
            state["readers" if kind == "read" else "writers"] += 1
            state["reads" if kind == "read" else "writes"] += 1
            if state["writers"] > 1 or (state["writers"] and state["readers"]):
                state["bad"] += 1

    def leave(kind: str) -> None:
        with guard:
            state["readers" if kind == "read" else "writers"] -= 1

    def work(client: Client, i: int) -> None:
        rw = ReadWriteLock(client, "mixed", timeout=30)
        for n in range(3):
            kind = "write" if (i + n) % 2 else "read"
            with (rw.write_lock() if kind == "write" else rw.read_lock()):
                enter(kind)
                threading.Event().wait(0.01)
                leave(kind)

    threads = [threading.Thread(target=work, args=(c, i)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert state["reads"] + state["writes"] == 12
    assert state["bad"] == 0
