"""Writes go straight to the leader (skylock/client/leader_route.py): what each node counts
per op shows where a client's requests were answered."""

from __future__ import annotations

import asyncio

from skylock.client import AsyncClient, Client
from skylock.client.leader_route import LEADER_OPS, RECHECK, RETRY_LOOKUP, LeaderRoute, leader_address
from tests.http.conftest import http_port
from tests.http.test_metrics import scrape
from tests.integration.cluster import LocalCluster, wait_until

SETS = 20


def answered(cluster: LocalCluster, node: int, op: str) -> float:
    """How many ``op`` requests node ``node`` has answered to clients so far."""
    return scrape(http_port(cluster, node)).get(f"skylock_request_seconds_count{{op={op}}}", 0.0)


def test_a_client_on_a_follower_writes_to_the_leader_and_reads_at_home(cluster: LocalCluster) -> None:
    leader = cluster.leader()
    follower = next(n for n in sorted(cluster.procs) if n != leader)
    client = cluster.client(cluster.address(follower))
    client.start_session("route")
    client.create("/route", b"")
    before = {n: (answered(cluster, n, "set"), answered(cluster, n, "get"), answered(cluster, n, "lock.acquire"))
              for n in (leader, follower)}
    for i in range(SETS):
        client.set("/route", str(i))
    assert client.set_async("/route", b"last").result(timeout=10)["version"] == SETS + 1
    held = client.lock_acquire("route-lock")
    client.lock_release("route-lock", held["lock_id"])
    assert client.get("/route", consistency="local")[0] == b"last"  # its own write, read at home

    assert client.server == cluster.address(follower)
    sets, gets, acquires = (answered(cluster, follower, op) for op in ("set", "get", "lock.acquire"))
    assert (sets, acquires) == (before[follower][0], before[follower][2])  # no write forwarded by it
    assert gets == before[follower][1] + 1
    assert answered(cluster, leader, "set") == before[leader][0] + SETS + 1
    assert answered(cluster, leader, "lock.acquire") == before[leader][2] + 1
    client.close()


def test_writes_follow_the_leader_when_it_changes(cluster: LocalCluster) -> None:
    old = cluster.leader()
    home = next(n for n in sorted(cluster.procs) if n != old)
    client = cluster.client(cluster.address(home))
    client.create("/route-moves", b"")
    client.set("/route-moves", b"1")
    assert client._failover.leader is not None and client._failover.leader.address == cluster.address(old)

    target = next(n for n in sorted(cluster.procs) if n not in (old, home))
    client.call("leader.transfer", id=target)
    new = wait_until(lambda: (n := cluster.leader()) != old and n, what="the leadership to move")
    assert new == target

    def routed_to_new_leader() -> bool:
        client.set("/route-moves", b"2")  # every write succeeds meanwhile, forwarded or not
        route = client._failover.leader
        return route is not None and route.address == cluster.address(new)

    wait_until(routed_to_new_leader, timeout=5 + RECHECK, what="the writes to go to the new leader")
    assert client.get("/route-moves")[0] == b"2"
    client.close()


def test_the_asyncio_client_on_a_follower_writes_to_the_leader(cluster: LocalCluster) -> None:
    leader = cluster.leader()
    follower = next(n for n in sorted(cluster.procs) if n != leader)

    async def main() -> None:
        async with AsyncClient(cluster.address(follower)) as client:
            await client.start_session("route-aio")
            await client.create("/route-aio", b"")
            before = answered(cluster, follower, "set"), answered(cluster, leader, "set")
            await asyncio.gather(*(client.set("/route-aio", str(i)) for i in range(SETS)))
            held = await client.lock_acquire("route-aio-lock")
            await client.lock_release("route-aio-lock", held["lock_id"])
            assert (await client.get("/route-aio", consistency="local"))[1]["version"] == SETS
            assert client.server == cluster.address(follower)
            assert answered(cluster, follower, "set") == before[0]
            assert answered(cluster, leader, "set") == before[1] + SETS

    asyncio.run(asyncio.wait_for(main(), 60))


def test_a_client_told_not_to_route_writes_through_its_own_server(cluster: LocalCluster) -> None:
    leader = cluster.leader()
    follower = next(n for n in sorted(cluster.procs) if n != leader)
    client = Client(cluster.address(follower), writes_to_leader=False)
    try:
        client.create("/route-off", b"")
        before = answered(cluster, follower, "set"), answered(cluster, leader, "set")
        for i in range(SETS):
            client.set("/route-off", str(i))
        assert answered(cluster, follower, "set") == before[0] + SETS
        assert answered(cluster, leader, "set") == before[1]
        assert client._failover.leader is None
    finally:
        client.close()


# ---- when to look the leader up (no cluster) ----------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_routed_ops_are_the_writes_and_lock_operations() -> None:
    assert {"create", "set", "delete", "multi", "lock.acquire", "lock.release", "session.open",
            "member.add", "leader.transfer"} <= LEADER_OPS
    assert not {"get", "exists", "children", "watch.add", "session.heartbeat", "cluster.leader",
                "member.list", "snapshot.chunk"} & LEADER_OPS


def test_a_route_is_looked_up_first_then_again_after_recheck() -> None:
    clock = Clock()
    route = LeaderRoute(clock)
    assert route.due()
    route.begin()
    assert not route.due()  # one lookup at a time; the others write home meanwhile
    route.found("127.0.0.1:7001")
    assert route.address == "127.0.0.1:7001" and not route.due()
    clock.now += RECHECK
    assert route.due()


def test_no_leader_found_and_failed_lookups_wait_before_the_next() -> None:
    clock = Clock()
    route = LeaderRoute(clock)
    route.begin()
    route.found(None)
    assert route.address is None and not route.due()
    clock.now += RETRY_LOOKUP
    assert route.due()

    route.begin()
    route.found("127.0.0.1:7002")
    clock.now += RECHECK
    route.begin()
    route.failed()  # no answer: keep using the route, ask again soon
    assert route.address == "127.0.0.1:7002" and not route.due()
    clock.now += RETRY_LOOKUP
    assert route.due()


def test_a_forgotten_route_sends_writes_home_until_the_next_lookup() -> None:
    clock = Clock()
    route = LeaderRoute(clock)
    route.begin()
    route.found("127.0.0.1:7003")
    route.forget()
    assert route.address is None and not route.due()
    clock.now += RETRY_LOOKUP
    assert route.due()


class FakeConnection:
    def __init__(self, address: str) -> None:
        self.address = address


def test_the_route_keeps_its_connection_and_hands_back_the_one_to_close() -> None:
    route: LeaderRoute[FakeConnection] = LeaderRoute(Clock())
    home = FakeConnection("127.0.0.1:7001")
    opened: list[FakeConnection] = []

    def open_connection(address: str) -> FakeConnection:
        opened.append(FakeConnection(address))
        return opened[-1]

    assert route.switch("127.0.0.1:7001", home, open_connection) is None
    assert route.writer(home) is home and not opened  # home leads: no second connection
    assert route.switch("127.0.0.1:7002", home, open_connection) is None  # home is never closed
    leader = route.writer(home)
    assert leader is opened[-1] and leader.address == "127.0.0.1:7002"
    assert route.switch("127.0.0.1:7003", home, open_connection) is leader  # the caller closes it
    assert route.writer(home).address == "127.0.0.1:7003"

    assert not route.drop(leader, home)  # no longer the route
    assert route.drop(route.writer(home), home)  # its own connection: the caller closes it
    assert route.writer(home) is home and route.address is None
    route.switch("127.0.0.1:7001", home, open_connection)
    assert not route.drop(home, home)  # forgotten, but home stays open
    assert route.writer(home) is home and route.address is None


def test_a_lookup_names_only_a_leader_the_client_can_use() -> None:
    reply = {"client_address": "127.0.0.1:7004"}
    assert leader_address(reply) == "127.0.0.1:7004"
    assert leader_address(reply, {"127.0.0.1:7004": b"key"}) == "127.0.0.1:7004"
    assert leader_address(reply, {"127.0.0.1:7001": b"key"}) is None  # secure mode: no key, no route
    assert leader_address({"client_address": ""}) is None and leader_address(None) is None
