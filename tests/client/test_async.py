"""The pipelined ops (``*_async``): many requests in flight on one socket, each a
``concurrent.futures.Future`` holding what the sync op returns or its typed error,
with the sync path's failover."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any

import pytest

from skylock.client import Client
from skylock.errors import BadVersion, NodeExists, NoNode, Timeout
from tests.integration.cluster import LocalCluster, wait_until

WINDOW = 32
PATHS = 4
SETS = 1000


def _pipelined_sets(client: Client) -> tuple[dict[str, list[int]], int]:
    """SETS set_async over PATHS nodes with at most WINDOW in flight; the versions each
    node's sets got, in the order they were issued, and the most seen in flight at once."""
    paths = [f"/async-sets/n{i}" for i in range(PATHS)]
    slots = threading.Semaphore(WINDOW)
    lock = threading.Lock()
    in_flight = peak = 0
    issued: dict[str, list[Future[Any]]] = {p: [] for p in paths}

    def landed(_f: Future[Any]) -> None:
        nonlocal in_flight
        with lock:
            in_flight -= 1
        slots.release()

    for i in range(SETS):
        slots.acquire()
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        path = paths[i % PATHS]
        future = client.set_async(path, f"v{i}".encode())
        issued[path].append(future)
        future.add_done_callback(landed)
    return {p: [f.result(timeout=30)["version"] for f in fs] for p, fs in issued.items()}, peak


def test_a_thousand_pipelined_sets_on_one_socket(cluster: LocalCluster) -> None:
    client = cluster.client()
    client.create("/async-sets")
    for i in range(PATHS):
        client.create(f"/async-sets/n{i}")
    conn = client._connection()
    versions, peak = _pipelined_sets(client)
    assert peak >= 16, "the window never filled: requests were not pipelined"
    for path, seen in versions.items():
        # one socket, sent in order: each node's sets apply in the order they were issued
        assert seen == list(range(1, SETS // PATHS + 1)), path
        data, stat = client.get(path)
        assert stat["version"] == SETS // PATHS and data == f"v{SETS - PATHS + int(path[-1])}".encode()
    assert client._connection() is conn and conn.sync_sockets == 1  # that get's; the sets used none


def test_results_have_the_sync_ops_shapes(cluster: LocalCluster) -> None:
    client = cluster.client()
    client.create("/shape-sync")
    client.create("/shape-async")
    results: dict[str, list[Any]] = {}
    for root, is_async in (("/shape-sync", False), ("/shape-async", True)):
        def run(name: str, *args: Any, **kwargs: Any) -> Any:
            if is_async:
                return getattr(client, f"{name}_async")(*args, **kwargs).result(timeout=10)
            return getattr(client, name)(*args, **kwargs)

        out = [run("create", f"{root}/a", b"one"),
               run("create", f"{root}/s-", b"", sequential=True),
               run("set", f"{root}/a", b"two"),
               run("get", f"{root}/a"),
               run("exists", f"{root}/a"),
               run("exists", f"{root}/none"),
               sorted(run("children", root)),
               run("multi", [{"op": "create", "path": f"{root}/m", "data": b"m"},
                             {"op": "set", "path": f"{root}/a", "data": b"three"}]),
               run("delete", f"{root}/m")]
        results[root] = [_strip(x, root) for x in out]
    assert results["/shape-sync"] == results["/shape-async"]
    assert results["/shape-async"][3][0] == b"two"


def _strip(value: Any, root: str) -> Any:
    """The same results but for zxids, times and the root's name, which differ between the two runs."""
    if isinstance(value, dict):
        return {k: _strip(v, root) for k, v in value.items() if k not in ("czxid", "mzxid", "pzxid", "zxid",
                                                                           "ctime", "mtime")}
    if isinstance(value, (list, tuple)):
        return type(value)(_strip(v, root) for v in value)
    if isinstance(value, str):
        return value.replace(root, "<root>")
    return value


def test_typed_errors_come_through_the_future(cluster: LocalCluster) -> None:
    client = cluster.client()
    client.create("/async-errors", b"x")
    with pytest.raises(NoNode):
        client.get_async("/async-errors/missing").result(timeout=10)
    with pytest.raises(BadVersion):
        client.set_async("/async-errors", b"y", version=99).result(timeout=10)
    with pytest.raises(NodeExists):
        client.create_async("/async-errors").result(timeout=10)
    with pytest.raises(NoNode):
        client.delete_async("/async-errors/missing").result(timeout=10)
    assert client.get("/async-errors")[0] == b"x"


def test_callbacks_run_off_the_io_thread(cluster: LocalCluster) -> None:
    """A callback that blocks must not stall the socket: the next reply still arrives."""
    client = cluster.client()
    release = threading.Event()
    ran_on: list[str] = []

    def slow(_f: Future[Any]) -> None:
        ran_on.append(threading.current_thread().name)
        release.wait(10)

    first = client.exists_async("/")
    first.add_done_callback(slow)
    first.result(timeout=10)
    try:
        # the pipeline thread is stuck in `slow`, yet the I/O thread still sends and reads
        # on the socket the async ops use
        assert client._connection().request("exists", {"path": "/"}).result(timeout=10)["stat"] is not None
    finally:
        release.set()
    assert client.exists_async("/").result(timeout=10) is not None
    assert ran_on == ["skylock-pipeline"]


def test_an_unanswered_request_fails_at_the_deadline(cluster: LocalCluster) -> None:
    """A silent server: the future fails by ``request_timeout`` instead of hanging, typed.
    The leader is the one paused: a write goes to it whichever server the client is on."""
    leader = cluster.leader()
    client = cluster.client(cluster.address(leader), request_timeout=1.0, connect_timeout=0.3)
    client.create("/async-deadline")
    cluster.pause(leader)
    try:
        started = time.monotonic()
        with pytest.raises(Timeout):
            client.set_async("/async-deadline", b"x").result(timeout=10)
        assert time.monotonic() - started < 5
    finally:
        cluster.resume(leader)
    cluster.leader()
    assert wait_until(lambda: client.exists_async("/async-deadline").result(timeout=10)) is not None


def test_create_async_fails_over_from_a_dead_first_server(cluster: LocalCluster) -> None:
    """Last in this module: it kills node 1 (and starts it again)."""
    cluster.kill(1)
    try:
        cluster.leader(among=[2, 3])
        client = cluster.client(cluster.address(1), cluster.address(2), cluster.address(3),
                                connect_timeout=0.5, request_timeout=20.0)
        futures = [client.create_async(f"/async-fo-{i}", b"v") for i in range(20)]
        assert [f.result(timeout=20) for f in futures] == [f"/async-fo-{i}" for i in range(20)]
        assert client.server != cluster.address(1)
        assert client.get_async("/async-fo-7").result(timeout=10)[0] == b"v"
    finally:
        cluster.start(1)
