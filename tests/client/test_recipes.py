"""The node-based recipes (kazoo's set) on one real 3-node cluster: Semaphore, Barrier,
DoubleBarrier, Counter, Queue, LockingQueue, Party, ShallowParty and Lease. Each test keeps
to its own paths, so they share the module's cluster."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from skylock.client import (Barrier, Client, Counter, DoubleBarrier, Lease, LockingQueue, Party, Queue, Semaphore,
                            ShallowParty)
from tests.client.workers import run_workers
from tests.integration.cluster import LocalCluster, wait_until


def session_client(cluster: LocalCluster, name: str = "recipes") -> Client:
    client = cluster.client()
    client.start_session(name, ttl=10)
    return client


def run_threads(*targets) -> None:  # noqa: ANN002 - callables
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()


# ---- Semaphore ------------------------------------------------------------------------------------------

SEMAPHORE_WORKER = """
import json, sys, time
from pathlib import Path
from skylock.client import Client, Semaphore
servers, log, me = sys.argv[1].split(","), Path(sys.argv[2]), sys.argv[3]
with Client(servers) as client:
    client.start_session(me, ttl=10)
    for _ in range(3):
        with Semaphore(client, "two-at-a-time", max_leases=2, identifier=me) as lease:
            start = time.monotonic()  # one clock for every process on this machine
            # hold until a second holder shows (or a second passes: the last ones are alone)
            deadline = start + 1.0
            while len(lease.lease_holders()) < 2 and time.monotonic() < deadline:
                pass
            with log.open("a") as f:
                f.write(json.dumps({"who": me, "start": start, "end": time.monotonic()}) + "\\n")
"""


def test_semaphore_never_has_more_than_max_leases_holders_across_processes(cluster: LocalCluster,
                                                                           tmp_path: Path) -> None:
    log = tmp_path / "holds.jsonl"
    run_workers(SEMAPHORE_WORKER, [[",".join(cluster.servers), str(log), f"p{i}"] for i in range(4)])
    holds = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(holds) == 12
    # the most holders at once: count at every start how many holds cover that instant
    most = max(sum(1 for h in holds if h["start"] <= at["start"] < h["end"]) for at in holds)
    assert most == 2, holds  # never three; and two at once, so it is no mere mutex


def test_semaphore_timeout_holders_and_agreement_on_max_leases(cluster: LocalCluster) -> None:
    client = session_client(cluster)
    first, second = Semaphore(client, "solo", 1, "first"), Semaphore(client, "solo", 1, "second")
    assert first.acquire() and first.is_acquired
    assert not second.acquire(timeout=0.3)
    assert not second.acquire(blocking=False)
    assert first.lease_holders() == ["first"]
    assert client.children("/semaphores/solo") == [first._node]  # the ones that gave up left no node
    with pytest.raises(ValueError):
        Semaphore(client, "solo", 3).acquire()
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(second.acquire(timeout=30)))
    waiter.start()
    wait_until(lambda: len(client.children("/semaphores/solo")) == 2, what="the second to queue")
    first.release()
    waiter.join(timeout=30)
    assert got == [True] and second.lease_holders() == ["second"]
    second.release()


# ---- Barrier and DoubleBarrier ----------------------------------------------------------------------------


def test_barrier_holds_waiters_until_removed(cluster: LocalCluster) -> None:
    client = cluster.client()
    barrier = Barrier(client, "/recipes/barrier/b1")
    assert barrier.wait(timeout=1)  # not up: nothing to wait for
    barrier.create()
    barrier.create()  # idempotent
    assert not barrier.wait(timeout=0.3)
    passed: list[bool] = []
    waiter = threading.Thread(target=lambda: passed.append(barrier.wait(timeout=30)))
    waiter.start()
    assert not passed  # the barrier is up: nobody passes
    assert barrier.remove()
    waiter.join(timeout=30)
    assert passed == [True]
    assert not barrier.remove()


def test_double_barrier_enters_together_and_leaves_together(cluster: LocalCluster) -> None:
    client = session_client(cluster)
    path = "/recipes/double/d1"
    members = [DoubleBarrier(client, path, 3, identifier=f"m{i}") for i in range(3)]
    through, left = [threading.Event() for _ in members], [threading.Event() for _ in members]
    go_leave = [threading.Event() for _ in members]

    def member(i: int) -> None:
        assert members[i].enter(timeout=30)
        through[i].set()
        go_leave[i].wait(30)
        assert members[i].leave(timeout=30)
        left[i].set()

    threads = [threading.Thread(target=member, args=(i,)) for i in range(3)]
    for t in threads[:2]:
        t.start()
    wait_until(lambda: len(client.children(path)) == 2, what="two members in")
    assert not any(e.is_set() for e in through)  # two of three: nobody passes
    threads[2].start()
    assert all(e.wait(30) for e in through)
    go_leave[0].set()
    wait_until(lambda: len([c for c in client.children(path) if c != "ready"]) == 2, what="one member out")
    assert not left[0].is_set()  # it waits for the others to be done
    go_leave[1].set()
    go_leave[2].set()
    for t in threads:
        t.join(timeout=30)
    assert all(e.is_set() for e in left)
    assert client.children(path) == []  # the last one out took "ready" down: the path serves again


# ---- Counter --------------------------------------------------------------------------------------------


def test_counter_four_clients_incrementing_25_times_each_reach_100(cluster: LocalCluster) -> None:
    path = "/recipes/counter/c1"

    def increment() -> None:
        counter = Counter(cluster.client(), path)
        for _ in range(25):
            counter += 1

    run_threads(*[increment] * 4)
    counter = Counter(cluster.client(), path)
    assert counter.value == 100
    counter -= 3
    assert (counter.pre_value, counter.post_value, counter.value) == (100, 97, 97)


def test_counter_default_and_float_values(cluster: LocalCluster) -> None:
    client = cluster.client()
    assert Counter(client, "/recipes/counter/unset", default=7).value == 7
    seconds = Counter(client, "/recipes/counter/float", default=0.5)
    seconds += 1.25
    assert seconds.value == 1.75 and isinstance(seconds.value, float)


# ---- Queue and LockingQueue ----------------------------------------------------------------------------


def test_queue_orders_by_priority_then_arrival_and_gives_each_item_once(cluster: LocalCluster) -> None:
    client = cluster.client()
    queue = Queue(client, "/recipes/queue/q1")
    assert queue.get() is None and len(queue) == 0
    queue.put(b"late", priority=200)
    queue.put_all([b"one", b"two"])
    queue.put("urgent", priority=5)
    assert len(queue) == 4
    assert [queue.get() for _ in range(5)] == [b"urgent", b"one", b"two", b"late", None]
    with pytest.raises(ValueError):
        queue.put(b"x", priority=1000)
    queue.put_all([str(i).encode() for i in range(20)])
    taken: list[bytes] = []

    def consume() -> None:
        consumer = Queue(cluster.client(), "/recipes/queue/q1")
        while (item := consumer.get()) is not None:
            taken.append(item)

    run_threads(consume, consume)
    assert sorted(taken, key=int) == [str(i).encode() for i in range(20)]  # each once, none lost


def test_locking_queue_get_consume_release_and_a_dead_consumer_gives_its_item_back(cluster: LocalCluster) -> None:
    path = "/recipes/lqueue/q1"
    first, second, third = (LockingQueue(session_client(cluster), path, f"c{i}") for i in range(3))
    first.put_all([b"a", b"b"])
    assert first.get() == b"a" and first.holds_lock()
    assert first.get() == b"a"  # held until consumed or released
    assert second.get(timeout=5) == b"b"  # a is locked: the next free one
    assert third.get(timeout=0.3) is None  # both locked
    first.release()
    assert not first.holds_lock()
    assert third.get(timeout=5) == b"a"
    assert third.consume() and len(third) == 1
    second.client.close()  # b's consumer goes away: its lock goes with its session
    assert first.get(timeout=10) == b"b"
    assert first.consume() and len(first) == 0
    got: list[bytes | None] = []
    waiter = threading.Thread(target=lambda: got.append(third.get(timeout=30)))
    waiter.start()
    first.put(b"c")  # wakes the blocked get
    waiter.join(timeout=30)
    assert got == [b"c"] and third.consume()
    assert not third.consume() and not third.release()  # nothing held


# ---- Party and ShallowParty ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [Party, ShallowParty])
def test_party_membership_follows_join_leave_and_session_end(cluster: LocalCluster, kind: type) -> None:
    path = f"/recipes/party/{kind.__name__}"
    a, b = session_client(cluster), session_client(cluster)
    host_a, host_b = kind(a, path, "host-a:9000"), kind(b, path, "host-b:9000")
    assert len(host_a) == 0 and list(host_a) == []
    host_a.join()
    host_b.join()
    host_b.join()  # a member already
    assert len(host_a) == 2 and sorted(host_a) == ["host-a:9000", "host-b:9000"]
    host_a.leave()
    assert list(host_b) == ["host-b:9000"] and not host_a.participating
    b.close()  # its session ends: it leaves the party
    assert len(host_a) == 0


# ---- Lease -------------------------------------------------------------------------------------------


def test_lease_is_exclusive_until_it_ends_and_renewable_by_its_holder(cluster: LocalCluster) -> None:
    a, b = cluster.client(), cluster.client()
    path, now = "/recipes/lease/report", time.time()
    mine = Lease(a, path, 60, "host-a", clock=lambda: now)
    assert mine and mine.expires_at == now + 60
    assert not Lease(b, path, 60, "host-b", clock=lambda: now + 30)  # not over yet
    assert Lease(a, path, 60, "host-a", clock=lambda: now + 30)  # renewed by its holder: ends at +90
    assert not Lease(b, path, 60, "host-b", clock=lambda: now + 75)
    theirs = Lease(b, path, 60, "host-b", clock=lambda: now + 91)  # over: anyone may take it
    assert theirs and not Lease(a, path, 60, "host-a", clock=lambda: now + 92)
    results: list[bool] = []
    later = now + 200  # two contenders for an ended lease: exactly one wins
    run_threads(*[lambda who=who: results.append(bool(Lease(cluster.client(), path, 60, who, clock=lambda: later)))
                  for who in ("x", "y", "z")])
    assert sorted(results) == [False, False, True]
