"""The Lock recipe and the client's lock ops against a real cluster."""

from __future__ import annotations

import threading
import time

import pytest

from skylock.client import Client, Lock, NotOwner, SessionState, Timeout
from tests.integration.cluster import LocalCluster, wait_until


def session_client(cluster: LocalCluster, name: str, ttl: float = 10.0) -> Client:
    client = cluster.client()
    client.start_session(name, ttl=ttl)
    return client


def test_mutual_exclusion_across_clients(cluster: LocalCluster) -> None:
    clients = [session_client(cluster, f"mx-{i}") for i in range(4)]
    inside = 0
    most_inside = 0
    entries = 0
    guard = threading.Lock()
    errors: list[BaseException] = []

    def work(client: Client) -> None:
        nonlocal inside, most_inside, entries
        try:
            for _ in range(3):
                with Lock(client, "mutex", owner=client.session_id or ""):
                    with guard:
                        inside += 1
                        entries += 1
                        most_inside = max(most_inside, inside)
                    time.sleep(0.02)  # hold the lock a moment so overlaps would show
                    with guard:
                        inside -= 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert entries == 12
    assert most_inside == 1


def test_waiters_are_granted_in_arrival_order(cluster: LocalCluster) -> None:
    holder = session_client(cluster, "fifo-holder")
    first = Lock(holder, "fifo")
    assert first.acquire(timeout=5)
    granted: list[int] = []
    waiters = [session_client(cluster, f"fifo-{i}") for i in range(3)]
    locks = [Lock(c, "fifo", owner=f"w{i}") for i, c in enumerate(waiters)]
    threads = []
    for i, lock in enumerate(locks):
        def wait(i: int = i, lock: Lock = lock) -> None:
            assert lock.acquire(timeout=30)
            granted.append(i)
            lock.release()

        threads.append(threading.Thread(target=wait))
        threads[-1].start()
        # the next waiter only starts once this one is queued
        wait_until(lambda i=i: len(holder.lock_info("fifo")["waiters"]) == i + 1, what=f"waiter {i} queued")
    assert [w["owner"] for w in holder.lock_info("fifo")["waiters"]] == ["w0", "w1", "w2"]
    first.release()
    for t in threads:
        t.join(timeout=30)
    assert granted == [0, 1, 2]


def test_acquire_times_out_and_leaves_the_queue(cluster: LocalCluster) -> None:
    a, b = session_client(cluster, "to-a"), session_client(cluster, "to-b")
    held = Lock(a, "timeout-lock")
    assert held.acquire()
    started = time.monotonic()
    assert Lock(b, "timeout-lock").acquire(timeout=1.0) is False
    assert 0.8 <= time.monotonic() - started < 5
    with pytest.raises(Timeout):
        b.lock_acquire("timeout-lock", timeout=0.5)
    wait_until(lambda: a.lock_info("timeout-lock")["waiters"] == [], what="timed-out waiters removed")
    assert Lock(b, "timeout-lock").acquire(blocking=False) is False
    held.release()
    assert Lock(b, "timeout-lock").acquire(timeout=5)


def test_release_by_another_session_is_refused(cluster: LocalCluster) -> None:
    a, b = session_client(cluster, "own-a"), session_client(cluster, "own-b")
    grant = a.lock_acquire("owned", timeout=5)
    with pytest.raises(NotOwner):
        b.lock_release("owned", grant["lock_id"])
    assert a.lock_info("owned")["holder"]["token"] == grant["token"]
    a.lock_release("owned", grant["lock_id"])
    assert a.lock_info("owned")["holder"] is None


def test_fencing_tokens_increase_across_holders(cluster: LocalCluster) -> None:
    clients = [session_client(cluster, f"fence-{i}") for i in range(3)]
    tokens = []
    for _ in range(2):
        for client in clients:
            with Lock(client, "fenced") as lock:
                assert lock.token is not None
                tokens.append(lock.token)
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)


def test_acquire_is_reentrant_and_idempotent_per_request(cluster: LocalCluster) -> None:
    a = session_client(cluster, "re-a")
    first = a.lock_acquire("reentrant", timeout=5, request_id="r1")
    assert a.lock_acquire("reentrant", timeout=5, request_id="r1")["lock_id"] == first["lock_id"]
    again = a.lock_acquire("reentrant", timeout=5)
    assert (again["lock_id"], again["token"]) == (first["lock_id"], first["token"])
    assert a.lock_info("reentrant")["waiters"] == []


def test_check_op_fences_a_write(cluster: LocalCluster) -> None:
    a, b = session_client(cluster, "chk-a"), session_client(cluster, "chk-b")
    a.create("/fenced-data", b"0")
    lock = Lock(a, "guard")
    assert lock.acquire(timeout=5)
    stale = lock.check_op()
    a.multi([stale, {"op": "set", "path": "/fenced-data", "data": b"1"}])
    lock.release()
    with Lock(b, "guard"):
        with pytest.raises(NotOwner):
            a.multi([stale, {"op": "set", "path": "/fenced-data", "data": b"stale"}])
    assert a.get("/fenced-data")[0] == b"1"


def test_session_expiry_drops_the_lock_and_tells_the_holder(cluster: LocalCluster) -> None:
    doomed = session_client(cluster, "expire", ttl=1.0)
    lost = threading.Event()
    lock = Lock(doomed, "expiring", on_lost=lambda _l: lost.set())
    assert lock.acquire(timeout=5)
    other = session_client(cluster, "expire-other")
    # The cluster ends the session behind the holder's back (as an expiry would);
    # the holder's next heartbeat is refused and the lock hears of it.
    other.call("session.close", session_id=doomed.session_id)
    assert lost.wait(5)
    assert not lock.is_held and doomed.state == SessionState.EXPIRED
    assert Lock(other, "expiring").acquire(timeout=5)
    lock.release()  # a no-op now, not an error



def test_released_locks_stop_listening_to_the_session(cluster: LocalCluster) -> None:
    client = session_client(cluster, "listeners")
    before = len(client._listeners)
    for _ in range(3):
        with Lock(client, "short-lived"):
            assert len(client._listeners) == before + 1
    assert len(client._listeners) == before
