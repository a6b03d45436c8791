"""Long-poll watches: the event comes back, a quiet wait ends in 204, and many waits block nothing."""

from __future__ import annotations

import asyncio
import threading
import time

import aiohttp

from skylock.http.gateway import HttpGateway
from tests.http.rest import Answer, Rest
from tests.integration.cluster import LocalCluster, wait_until


def _mzxid(api: Rest, path: str) -> int:
    return int(api.get(f"/v1/nodes{path}").body["stat"]["mzxid"])


def test_long_poll_returns_the_event_that_ends_the_wait(api: Rest, follower_api: Rest) -> None:
    api.put("/v1/nodes/watched", {"data": "before"})
    start = _mzxid(api, "/watched")
    answers: list[Answer] = []
    poll = threading.Thread(target=lambda: answers.append(
        follower_api.get(f"/v1/watch/watched?kind=data&from_zxid={start}&timeout=20")))
    poll.start()
    try:
        assert api.post("/v1/nodes/watched", {"data": "after"}).status == 200
    finally:
        poll.join(timeout=25)
    assert answers, "the long poll did not return"
    answer = answers[0]
    assert answer.status == 200
    [event] = answer.body["events"]
    assert event["type"] == "data_changed" and event["path"] == "/watched" and event["zxid"] > start
    assert answer.body["zxid"] == event["zxid"] and answer.headers["X-SkyLock-Zxid"] == str(event["zxid"])


def test_from_zxid_replays_what_happened_before_the_poll(api: Rest) -> None:
    api.put("/v1/nodes/tree", {"data": ""})
    start = _mzxid(api, "/tree")
    api.put("/v1/nodes/tree/a", {"data": "1"})
    api.put("/v1/nodes/tree/b", {"data": "2"})
    recursive = api.get(f"/v1/watch/tree?kind=recursive&from_zxid={start}&timeout=5")
    assert recursive.status == 200
    assert [(e["type"], e["path"]) for e in recursive.body["events"]] == [
        ("created", "/tree/a"), ("created", "/tree/b")]
    children = api.get(f"/v1/watch/tree?kind=children&from_zxid={start}&timeout=5")
    assert children.status == 200
    [event] = children.body["events"]
    assert event["type"] == "children_changed" and event["child"] == "a"


def test_a_quiet_watch_ends_in_204_with_the_zxid_to_resume_from(api: Rest) -> None:
    api.put("/v1/nodes/quiet", {"data": ""})
    began = time.monotonic()
    answer = api.get("/v1/watch/quiet?kind=data&timeout=0.3")
    assert answer.status == 204 and answer.body is None
    assert 0.25 <= time.monotonic() - began < 5
    resume = int(answer.headers["X-SkyLock-Zxid"])
    assert resume >= _mzxid(api, "/quiet")
    api.post("/v1/nodes/quiet", {"data": "changed"})
    after = api.get(f"/v1/watch/quiet?kind=data&from_zxid={resume}&timeout=5")
    assert after.status == 200 and after.body["events"][0]["type"] == "data_changed"


def test_fifty_long_polls_do_not_block_other_requests(api: Rest) -> None:
    api.put("/v1/nodes/crowd", {"data": "0"})
    start = _mzxid(api, "/crowd")
    url = api.base + f"/v1/watch/crowd?kind=data&from_zxid={start}&timeout=30"

    async def scenario() -> tuple[list[int], list[float], list[dict]]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

            async def poll() -> dict:
                async with http.get(url) as resp:
                    assert resp.status == 200
                    return await resp.json()

            polls = [asyncio.ensure_future(poll()) for _ in range(50)]
            await asyncio.sleep(0)  # let the polls go out before the other traffic
            latencies, statuses = [], []
            for i in range(20):
                began = time.monotonic()
                async with http.put(api.base + f"/v1/nodes/crowd-{i}", json={"data": "x"}) as resp:
                    statuses.append(resp.status)
                async with http.get(api.base + "/v1/cluster/leader") as resp:
                    statuses.append(resp.status)
                latencies.append(time.monotonic() - began)
            assert not any(p.done() for p in polls), "a long poll ended before its event"
            async with http.post(api.base + "/v1/nodes/crowd", json={"data": "1"}) as resp:
                statuses.append(resp.status)
            bodies = await asyncio.wait_for(asyncio.gather(*polls), timeout=20)
            return statuses, latencies, bodies

    statuses, latencies, bodies = asyncio.run(scenario())
    assert set(statuses) == {200, 201}
    assert max(latencies) < 2.0, latencies
    assert len(bodies) == 50
    assert all(b["events"][0]["type"] == "data_changed" and b["events"][0]["path"] == "/crowd" for b in bodies)


def test_port_zero_binds_a_free_port_and_stop_ends_waiting_polls(cluster: LocalCluster) -> None:
    gateway = HttpGateway(99, cluster.address(1), 0, max_body=1 << 20)
    gateway.start()
    try:
        assert gateway.port and gateway.host == "127.0.0.1"
        rest = Rest(gateway.port)
        assert rest.get("/v1/cluster/leader").status == 200
        rest.put("/v1/nodes/stopping", {"data": ""})
        answers: list[object] = []

        def poll() -> None:
            try:
                answers.append(rest.get("/v1/watch/stopping?kind=data&timeout=60", timeout=30))
            except OSError as exc:  # the server closed the connection: just as good
                answers.append(exc)

        poller = threading.Thread(target=poll)
        poller.start()
        wait_until(lambda: gateway.link is not None and gateway.link.waiting_watches == 1, timeout=10,
                   what="the poll to wait")
    finally:
        began = time.monotonic()
        gateway.stop()
        stopped_in = time.monotonic() - began
    poller.join(timeout=10)
    assert not poller.is_alive()
    assert isinstance(answers[0], Answer) and answers[0].status == 204  # ended early, resumable
    assert stopped_in < 10.0  # it did not wait out the poll's 60 s


def test_a_client_that_hangs_up_ends_its_watch(cluster: LocalCluster) -> None:
    gateway = HttpGateway(98, cluster.address(2), 0, max_body=1 << 20)
    gateway.start()
    try:
        assert gateway.link is not None
        url = f"http://127.0.0.1:{gateway.port}/v1/watch/hangup?kind=exists&timeout=60"

        async def hang_up() -> None:
            async with aiohttp.ClientSession() as http:
                polls = [asyncio.ensure_future(http.get(url)) for _ in range(5)]
                deadline = time.monotonic() + 10
                while gateway.link.waiting_watches < 5:
                    assert time.monotonic() < deadline, "the polls never registered"
                    await asyncio.sleep(0.02)
                for poll in polls:
                    poll.cancel()
                await asyncio.gather(*polls, return_exceptions=True)

        asyncio.run(hang_up())
        wait_until(lambda: gateway.link.waiting_watches == 0, timeout=5, what="the watches to be removed")
    finally:
        gateway.stop()
