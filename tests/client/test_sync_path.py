"""The synchronous request path: plain requests are sent and answered on the calling
thread, each on a pooled socket of its own; watches stay on the I/O thread's socket.
Real cluster (shared by the module; the kill test restarts the node it kills)."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable

import pytest

from skylock.client import Client, ConnectionLost, Event, SkyLockError
from skylock.client.connection import Connection
from tests.integration.cluster import LocalCluster, holds_for, wait_until


def connection(client: Client) -> Connection:
    conn = client._conn
    assert conn is not None
    return conn


def in_flight(client: Client) -> int:
    """Synchronous sockets taken out of the pool right now (requests being waited for), on the
    client's connection and on its connection to the leader (where writes go)."""
    conns = {client._conn, client._failover.leader} - {None}
    return sum(conn.sync_sockets - len(conn._idle) for conn in conns)


def session_client(cluster: LocalCluster, name: str, **kwargs: Any) -> Client:
    client = cluster.client(**kwargs)
    client.start_session(name, ttl=10.0)
    return client


def held_lock(cluster: LocalCluster, name: str) -> tuple[Client, dict[str, Any]]:
    """A client holding lock ``name``, and the grant."""
    holder = session_client(cluster, f"{name}-holder")
    return holder, holder.lock_acquire(name, timeout=5)


def run_in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``fn`` in a thread; the dict gets ``value`` or ``error`` and the time it ended."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - examined by the test
            out["error"] = exc
        out["at"] = time.monotonic()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def test_threads_sharing_a_client_get_their_own_answers(cluster: LocalCluster) -> None:
    client = cluster.client()
    threads, rounds = 16, 20
    client.create("/sync-threads", b"")
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            path = f"/sync-threads/t{i}"
            client.create(path, b"")
            start.wait(timeout=30)
            for r in range(1, rounds + 1):
                value = f"{i}:{r}".encode()
                assert client.set(path, value)["version"] == r
                data, stat = client.get(path)
                assert (data, stat["version"]) == (value, r)
                # the node that acknowledged the write has applied it: a local read sees it
                data, stat = client.get(path, consistency="local")
                assert (data, stat["version"]) == (value, r)
                assert client.exists(f"/sync-threads/t{(i + 1) % threads}") is not None
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not [w for w in workers if w.is_alive()]
    assert failures == []
    assert sorted(client.children("/sync-threads")) == sorted(f"t{i}" for i in range(threads))
    conn = connection(client)
    assert in_flight(client) == 0
    # one socket per concurrent caller, reused: never more than the threads
    assert 2 <= conn.sync_sockets <= threads
    assert conn.stale_replies == 0


def test_a_late_reply_is_discarded_by_the_next_user_of_its_socket(cluster: LocalCluster) -> None:
    held_lock(cluster, "sync-stale")
    other = session_client(cluster, "stale-other")
    # no session on this client: no heartbeat thread shares its pool, so its one socket is reused
    client = cluster.client()
    client.create("/sync-stale", b"fresh")
    conn = connection(client)
    assert conn.sync_sockets == 1
    args = {"name": "sync-stale", "session_id": other.session_id, "owner": "late",
            "timeout_ms": 300, "request_id": uuid.uuid4().hex}
    with pytest.raises(FutureTimeout):
        conn.call("lock.acquire", args, 0.05)  # the server answers Timeout ~300 ms later
    assert conn.sync_sockets == 1

    def answered_right() -> bool:
        data, stat = client.get("/sync-stale")
        assert (data, stat["version"]) == (b"fresh", 0)
        return conn.stale_replies >= 1

    wait_until(answered_right, timeout=10, interval=0.02, what="the late lock reply to be discarded")
    assert conn.sync_sockets == 1
    assert client.set("/sync-stale", b"next")["version"] == 1
    assert client.get("/sync-stale")[0] == b"next"
    assert client._conn is conn  # nothing was mistaken for a lost connection


def test_a_wait_longer_than_an_attempt_pings_on_its_own_socket(cluster: LocalCluster) -> None:
    """Past ``attempt_timeout`` the client pings (on the same socket) and keeps waiting."""
    holder, grant = held_lock(cluster, "sync-long")
    waiter = session_client(cluster, "long-waiter", attempt_timeout=0.2)
    thread, out = run_in_thread(lambda: waiter.lock_acquire("sync-long", timeout=30))
    wait_until(lambda: holder.lock_info("sync-long")["waiters"], what="the waiter to queue")
    conn = connection(waiter)
    # five attempts pass; each ends in a ping answered on the waiting socket, and the wait goes on
    holds_for(lambda: thread.is_alive() and waiter._conn is conn, duration=1.0, what="the acquire waiting")
    holder.lock_release("sync-long", grant["lock_id"])
    thread.join(timeout=20)
    assert "error" not in out, out
    assert out["value"]["session_id"] == waiter.session_id
    assert waiter._conn is conn
    assert conn.sync_sockets <= 2  # the waiting thread and the heartbeat thread


def test_watches_are_registered_on_the_io_socket_and_fire(cluster: LocalCluster) -> None:
    client = cluster.client()
    client.create("/sync-watch", b"0")
    recursive: queue.Queue[Event] = queue.Queue()
    data: queue.Queue[Event] = queue.Queue()
    exists: queue.Queue[Event] = queue.Queue()
    client.watch("/sync-watch", recursive.put, kind="recursive")
    assert client.get("/sync-watch", watch=data.put)[0] == b"0"
    assert client.exists("/sync-watch/child", watch=exists.put) is None
    client.set("/sync-watch", b"1")
    client.create("/sync-watch/child", b"")
    assert data.get(timeout=10).type == "data_changed"
    assert exists.get(timeout=10).type == "created"
    seen = [recursive.get(timeout=10), recursive.get(timeout=10)]
    assert [(e.type, e.path) for e in seen] == [("data_changed", "/sync-watch"), ("created", "/sync-watch/child")]
    client.delete("/sync-watch/child")
    assert recursive.get(timeout=10).type == "deleted"


def test_a_killed_server_fails_a_write_at_once_and_a_read_fails_over(cluster: LocalCluster) -> None:
    # the leader: a write goes to it whichever server the writer is on
    victim = cluster.leader()
    others = [cluster.address(n) for n in sorted(cluster.procs) if n != victim]
    # attempts far longer than the test: only the connection monitor can end the wait early
    writer = cluster.client(cluster.address(victim), request_timeout=60.0, attempt_timeout=30.0)
    reader = cluster.client(cluster.address(victim), *others, request_timeout=60.0, attempt_timeout=30.0)
    writer.create("/sync-kill", b"before")
    assert reader.get("/sync-kill")[0] == b"before"
    assert writer.server == reader.server == cluster.address(victim)
    cluster.pause(victim)
    try:
        write, wrote = run_in_thread(lambda: writer.set("/sync-kill", b"after"))
        read, got = run_in_thread(lambda: reader.get("/sync-kill"))
        wait_until(lambda: in_flight(writer) and in_flight(reader), what="both requests to wait on the victim")
        killed_at = time.monotonic()
        cluster.kill(victim)
        write.join(timeout=10)
        read.join(timeout=30)
        assert isinstance(wrote.get("error"), ConnectionLost), wrote
        assert wrote["error"].details.get("sent") is True
        assert wrote["at"] - killed_at < 3.0
        assert "error" not in got, got
        assert got["value"][0] == b"before"
        assert reader.server in others
    finally:
        if victim not in cluster.procs:
            cluster.start(victim)
        cluster.leader()


def test_close_does_not_wait_for_a_caller_that_is_waiting(cluster: LocalCluster) -> None:
    held_lock(cluster, "sync-close")
    other = session_client(cluster, "close-other")
    client = Client(cluster.servers, attempt_timeout=30.0, request_timeout=60.0)  # closed by the test
    waiter, out = run_in_thread(lambda: client.call("lock.acquire", name="sync-close", session_id=other.session_id,
                                                    owner="w", timeout_ms=30000, request_id=uuid.uuid4().hex))
    wait_until(lambda: in_flight(client), what="the acquire to wait")
    closer, closed = run_in_thread(client.close)  # closes every socket, then terminates the context
    closer.join(timeout=10)
    assert not closer.is_alive() and "error" not in closed
    waiter.join(timeout=10)
    assert isinstance(out.get("error"), SkyLockError), out
