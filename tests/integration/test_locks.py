"""The server-side lock (LockManager + the replicated lock queues) on a real cluster,
driven through the raw lock ops so these tests pin the wire contract."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from skylock.client import Client
from skylock.errors import NotOwner, Timeout
from tests.integration.cluster import LocalCluster, wait_until


def session(client: Client, ttl: float = 5.0) -> str:
    return client.start_session("locker", ttl=ttl)


def acquire(client: Client, name: str, timeout_ms: int = 10000, request_id: str | None = None) -> dict[str, Any]:
    return client.call("lock.acquire", name=name, session_id=client.session_id, owner=f"o-{client.session_id[:6]}",
                       timeout_ms=timeout_ms, request_id=request_id or uuid.uuid4().hex)


def test_uncontended_acquire_release_and_info(cluster: LocalCluster) -> None:
    c = cluster.client()
    session(c)
    grant = acquire(c, "res")
    assert grant["lock_id"].startswith("lock-") and grant["token"] > 0
    info = c.call("lock.info", name="res")
    assert info["holder"]["entry"] == grant["lock_id"].split(".")[0] and info["waiters"] == []
    c.call("lock.release", name="res", session_id=c.session_id, lock_id=grant["lock_id"])
    assert c.call("lock.info", name="res")["holder"] is None


def test_acquire_is_reentrant_and_idempotent_per_request_id(cluster: LocalCluster) -> None:
    c = cluster.client()
    session(c)
    first = acquire(c, "re", request_id="r1")
    assert acquire(c, "re", request_id="r1") == first
    assert acquire(c, "re", request_id="r2")["lock_id"] == first["lock_id"]
    assert c.call("lock.info", name="re")["waiters"] == []


def test_waiters_are_granted_in_fifo_order(cluster: LocalCluster) -> None:
    holder = cluster.client()
    session(holder)
    grant = acquire(holder, "fifo")
    waiters = [cluster.client(cluster.address(1 + i % 3)) for i in range(4)]
    order: list[int] = []
    lock = threading.Lock()

    def wait(i: int) -> None:
        g = acquire(waiters[i], "fifo", timeout_ms=20000)
        with lock:
            order.append(i)
        waiters[i].call("lock.release", name="fifo", session_id=waiters[i].session_id, lock_id=g["lock_id"])

    with ThreadPoolExecutor(4) as pool:
        futures = []
        for i, w in enumerate(waiters):
            session(w)
            futures.append(pool.submit(wait, i))
            wait_until(lambda i=i: len(holder.call("lock.info", name="fifo")["waiters"]) == i + 1)
        holder.call("lock.release", name="fifo", session_id=holder.session_id, lock_id=grant["lock_id"])
        for f in futures:
            f.result(timeout=30)
    assert order == [0, 1, 2, 3]


def test_wait_times_out_and_leaves_no_entry(cluster: LocalCluster) -> None:
    holder, waiter = cluster.client(), cluster.client()
    session(holder), session(waiter)
    acquire(holder, "slow")
    started = time.monotonic()
    with pytest.raises(Timeout):
        acquire(waiter, "slow", timeout_ms=500)
    assert 0.4 <= time.monotonic() - started < 5
    wait_until(lambda: holder.call("lock.info", name="slow")["waiters"] == [])


def test_release_by_the_wrong_session_is_refused_and_changes_nothing(cluster: LocalCluster) -> None:
    owner, thief = cluster.client(), cluster.client()
    session(owner), session(thief)
    grant = acquire(owner, "mine")
    with pytest.raises(NotOwner):
        thief.call("lock.release", name="mine", session_id=thief.session_id, lock_id=grant["lock_id"])
    assert owner.call("lock.info", name="mine")["holder"]["token"] == grant["token"]


HOLDER_SCRIPT = """
import sys, threading, uuid
from skylock.client import Client
c = Client(sys.argv[1].split(","))
c.start_session("doomed", ttl=float(sys.argv[2]))
g = c.call("lock.acquire", name="handoff", session_id=c.session_id, owner="doomed", timeout_ms=5000,
           request_id=uuid.uuid4().hex)
print(g["token"], flush=True)
threading.Event().wait()
"""


def test_killing_the_holder_hands_the_lock_on_within_ttl_plus_2s(cluster: LocalCluster) -> None:
    ttl = 1.5
    proc = subprocess.Popen([sys.executable, "-c", HOLDER_SCRIPT, ",".join(cluster.servers), str(ttl)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        dead_token = int(proc.stdout.readline())
        waiter = cluster.client()
        session(waiter)
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(acquire, waiter, "handoff", 20000)
            wait_until(lambda: len(waiter.call("lock.info", name="handoff")["waiters"]) == 1)
            proc.kill()
            proc.wait()
            killed = time.monotonic()
            grant = pending.result(timeout=ttl + 5)
        assert time.monotonic() - killed <= ttl + 2.0
        assert grant["token"] > dead_token
    finally:
        proc.kill()
        proc.wait()


def test_fencing_tokens_increase_across_holders_and_a_leader_change(cluster: LocalCluster) -> None:
    c = cluster.client()
    session(c, ttl=5)
    tokens = []
    for _ in range(3):
        g = acquire(c, "fence")
        tokens.append(g["token"])
        c.call("lock.release", name="fence", session_id=c.session_id, lock_id=g["lock_id"])
    old = cluster.leader()
    cluster.kill(old)
    cluster.leader(among=[n for n in (1, 2, 3) if n != old])
    for _ in range(3):
        g = acquire(c, "fence")
        tokens.append(g["token"])
        c.call("lock.release", name="fence", session_id=c.session_id, lock_id=g["lock_id"])
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)


def test_check_lock_in_multi_fences_a_write(cluster: LocalCluster) -> None:
    c = cluster.client()
    session(c)
    g = acquire(c, "guard")
    c.create("/guarded", "0")
    c.multi([{"op": "check_lock", "name": "guard", "token": g["token"], "session_id": c.session_id},
             {"op": "set", "path": "/guarded", "data": b"1"}])
    c.call("lock.release", name="guard", session_id=c.session_id, lock_id=g["lock_id"])
    with pytest.raises(NotOwner):
        c.multi([{"op": "check_lock", "name": "guard", "token": g["token"], "session_id": c.session_id},
                 {"op": "set", "path": "/guarded", "data": b"stale"}])
    assert c.get("/guarded")[0] == b"1"
