"""``AsyncClient`` against a real 3-node cluster: the ops as coroutines with the typed errors,
500 concurrent gets on one connection, watches as async iterators (that survive the loss of
their server), sessions and locks, and failover past a dead server."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, TypeVar

import pytest

from skylock.client import AsyncClient, AsyncWatch, Event, SessionState
from skylock.errors import BadVersion, NodeExists, NoNode, SessionExpired, Timeout
from skylock.layout import free_ports
from tests.integration.cluster import LocalCluster

T = TypeVar("T")
WAIT = 15.0  # seconds any single expected thing may take on a busy machine


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 120))


def client(cluster: LocalCluster, *servers: str, **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("attempt_timeout", 1.0)
    return AsyncClient(list(servers) or cluster.servers, **kwargs)


async def next_event(watch: AsyncWatch) -> Event:
    return await asyncio.wait_for(watch.__anext__(), WAIT)


def test_the_ops_as_coroutines_with_the_typed_errors(cluster: LocalCluster) -> None:
    async def main() -> None:
        async with client(cluster) as c:
            assert await c.create("/aio", b"v0") == "/aio"
            assert await c.get("/aio") == (b"v0", (await c.get("/aio"))[1])
            assert (await c.set("/aio", "v1", version=0))["version"] == 1
            assert (await c.exists("/aio"))["version"] == 1 and await c.exists("/aio/none") is None
            assert await c.create("/aio/q-", sequential=True) == "/aio/q-0000000000"
            assert await c.children("/aio") == ["q-0000000000"]
            results = await c.multi([{"op": "check", "path": "/aio", "version": 1},
                                     {"op": "delete", "path": "/aio/q-0000000000"}])
            assert results == [{}, {}]
            with pytest.raises(NoNode):
                await c.get("/aio/none")
            with pytest.raises(BadVersion):
                await c.set("/aio", b"x", version=0)
            with pytest.raises(NodeExists):
                await c.create("/aio")
            with pytest.raises(BadVersion) as failed:
                await c.multi([{"op": "create", "path": "/aio/new"}, {"op": "check", "path": "/aio", "version": 9}])
            assert failed.value.details["index"] == 1 and await c.exists("/aio/new") is None
            with pytest.raises(SessionExpired):
                await c.create("/aio/eph", ephemeral=True)  # no session yet
            assert (await c.leader())["leader_id"] in (1, 2, 3)
            assert len((await c.status())["nodes"]) == 3
            await c.delete("/aio", version=1)
            assert await c.exists("/aio") is None

    run(main())


def test_500_concurrent_gets_under_gather(cluster: LocalCluster) -> None:
    async def main() -> None:
        async with client(cluster) as c:
            await c.multi([{"op": "create", "path": f"/aio-many{i}", "data": f"v{i}".encode()} for i in range(10)])
            results = await asyncio.gather(*(c.get(f"/aio-many{i % 10}") for i in range(500)))
            assert [data for data, _stat in results] == [f"v{i % 10}".encode() for i in range(500)]

    run(main())


def test_watches_are_async_iterators(cluster: LocalCluster) -> None:
    async def main() -> None:
        async with client(cluster) as c, client(cluster) as writer:
            await c.create("/aio-w")
            recursive = await c.watch("/aio-w")  # registered: events from now on are kept
            await writer.create("/aio-w/a", b"1")
            await writer.set("/aio-w/a", b"2")
            seen = [(await next_event(recursive)) for _ in range(2)]
            assert [(e.type, e.path) for e in seen] == [("created", "/aio-w/a"), ("data_changed", "/aio-w/a")]
            async with c.watch("/aio-w/a", kind="data") as data:  # one-shot on the server, re-armed here
                for value in (b"3", b"4", b"5"):
                    await writer.set("/aio-w/a", value)
                assert [(await next_event(data)).type for _ in range(3)] == ["data_changed"] * 3
            assert [e async for e in data] == []  # the block's end cancelled it: the iteration ends
            assert [(await next_event(recursive)).type for _ in range(3)] == ["data_changed"] * 3
            recursive.cancel()
            await writer.delete("/aio-w/a")
            assert [e async for e in recursive] == []  # nothing after the cancel

    run(main())


def test_a_session_lives_on_heartbeats_and_locks_queue(cluster: LocalCluster) -> None:
    async def main() -> None:
        async with client(cluster) as a, client(cluster) as b:
            await a.start_session("aio-a", ttl=1.0)
            await b.start_session("aio-b", ttl=10.0)
            assert a.state == SessionState.CONNECTED
            await a.create("/aio-eph", b"", ephemeral=True)
            held = await a.lock_acquire("aio-lock", owner="a", timeout=10)
            waiting = asyncio.ensure_future(b.lock_acquire("aio-lock", owner="b", timeout=20))
            info = await a.lock_info("aio-lock")
            while not info["waiters"]:
                await asyncio.sleep(0.05)
                info = await a.lock_info("aio-lock")
            assert info["holder"]["token"] == held["token"] and info["waiters"][0]["owner"] == "b"
            with pytest.raises(Timeout):
                await b.lock_acquire("aio-lock", timeout=0.5, request_id="another-wait")
            await asyncio.sleep(2.5)  # more than twice the TTL: only the heartbeats keep it
            assert await b.exists("/aio-eph") is not None and a.state == SessionState.CONNECTED
            await a.lock_release("aio-lock", held["lock_id"])
            granted = await asyncio.wait_for(waiting, WAIT)
            assert granted["token"] > held["token"]
        async with client(cluster) as c:
            assert await c.exists("/aio-eph") is None  # closing a's client closed its session
            assert (await c.lock_info("aio-lock"))["holder"] is None

    run(main())


def test_failover_past_a_closed_port_listed_first(cluster: LocalCluster) -> None:
    dead = f"127.0.0.1:{free_ports(1)[0]}"

    async def main() -> None:
        async with client(cluster, dead, *cluster.servers, connect_timeout=0.3) as c:
            assert await c.create("/aio-failover", b"x") == "/aio-failover"  # a write: it was never sent
            assert c.server != dead
            assert (await c.get("/aio-failover"))[0] == b"x"
            await c.delete("/aio-failover")

    run(main())


def test_calls_and_watches_move_when_their_server_is_killed(cluster: LocalCluster) -> None:
    """Last in this module: it kills a follower (and starts it again)."""
    leader = cluster.leader()
    victim = next(n for n in (1, 2, 3) if n != leader)
    others = [cluster.address(n) for n in (1, 2, 3) if n != victim]

    async def main() -> None:
        async with client(cluster, cluster.address(victim), *others) as c, client(cluster, *others) as writer:
            await c.create("/aio-move")
            watch = await c.watch("/aio-move")
            assert c.server == cluster.address(victim)
            cluster.kill(victim)
            await writer.create("/aio-move/while-away")
            event = await next_event(watch)  # registered again elsewhere, from the last zxid it saw
            assert (event.type, event.path) == ("created", "/aio-move/while-away")
            assert await c.children("/aio-move") == ["while-away"] and c.server in others
            watch.cancel()

    try:
        run(main())
    finally:
        cluster.start(victim)
        cluster.leader()
