"""Failover past dead servers, and the server's typed answer when there is no quorum.

A request whose socket never reaches its server was never sent, so the client
sends it, whatever the op, to the next server after one connect timeout. A node
that cannot serve a request for want of a leader says ``NoLeader`` promptly, and
the client reports that (not ``ConnectionLost``) when its deadline passes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable

import pytest
import zmq
from click.testing import CliRunner

from skylock.cli import main
from skylock.client import Client, Election
from skylock.client.connection import Connection
from skylock.errors import ConnectionLost, NoLeader, Timeout
from skylock.http.link import NodeLink
from skylock.layout import free_ports
from tests.integration.cluster import LocalCluster, running_cluster

CONNECT = 0.5
#: far above CONNECT: before the fix a dead first server cost at least two of these (or failed)
SLOW_ATTEMPT = 5.0
#: "a small multiple of the connect timeout", generous for a loaded machine
QUICK = 3.0


@pytest.fixture(scope="module")
def dead_first(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, Client]]:
    """A cluster whose node 1 was killed with SIGKILL, and a client that was connected to it."""
    with running_cluster(tmp_path_factory.mktemp("dead-first")) as cluster:
        veteran = cluster.client(connect_timeout=CONNECT, attempt_timeout=SLOW_ATTEMPT, request_timeout=20.0)
        veteran.create("/fo", b"")
        assert veteran.server == cluster.address(1)
        cluster.kill(1)
        cluster.leader(among=[2, 3])
        yield cluster, veteran


def fresh(cluster: LocalCluster) -> Client:
    """A client that starts, like the CLI, with the dead node first in its list."""
    client = cluster.client(cluster.address(1), cluster.address(2), cluster.address(3),
                            connect_timeout=CONNECT, attempt_timeout=SLOW_ATTEMPT, request_timeout=20.0)
    assert client.server is None
    return client


def quick(fn: Callable[[], Any]) -> Any:
    started = time.monotonic()
    value = fn()
    assert time.monotonic() - started < QUICK, "the failover took far more than a connect timeout"
    return value


@pytest.mark.parametrize("op", ["create", "set", "start_session", "get", "children", "exists", "lock_info",
                                "multi", "delete", "watch", "get_watch"])
def test_every_op_fails_over_from_a_dead_first_server(dead_first: tuple[LocalCluster, Client], op: str) -> None:
    cluster, _ = dead_first
    path = f"/fo/{op}"
    setup = cluster.client(cluster.address(2), cluster.address(3))
    if op not in ("create", "multi"):
        setup.create(path, b"v0")
    client = fresh(cluster)
    calls: dict[str, Callable[[], Any]] = {
        "create": lambda: client.create(path, b"new"),
        "set": lambda: client.set(path, b"v1"),
        "start_session": lambda: client.start_session("fo", ttl=10.0),
        "get": lambda: client.get(path),
        "children": lambda: client.children(path),
        "exists": lambda: client.exists(path),
        "lock_info": lambda: client.lock_info("fo-info"),
        "multi": lambda: client.multi([{"op": "create", "path": path, "data": b"m"}]),
        "delete": lambda: client.delete(path),
        "watch": lambda: client.watch(path, lambda _e: None),
        "get_watch": lambda: client.get(path, watch=lambda _e: None),
    }
    assert quick(calls[op]) is not None or op == "delete"
    assert client.server in (cluster.address(2), cluster.address(3))
    if op in ("create", "multi"):
        assert setup.get(path)[0] in (b"new", b"m")
    if op == "set":
        assert setup.get(path)[0] == b"v1"


def test_a_lock_is_taken_and_released_past_a_dead_first_server(dead_first: tuple[LocalCluster, Client]) -> None:
    cluster, _ = dead_first
    client = fresh(cluster)
    quick(lambda: client.start_session("fo-locker", ttl=10.0))
    grant = quick(lambda: client.lock_acquire("fo-lock", owner="me", timeout=10))
    other = fresh(cluster)
    assert quick(lambda: other.lock_info("fo-lock"))["holder"]["entry"] == grant["lock_id"].split(".")[0]
    quick(lambda: client.lock_release("fo-lock", grant["lock_id"]))
    assert other.lock_info("fo-lock")["holder"] is None


def test_a_client_whose_server_died_fails_over_at_its_next_request(dead_first: tuple[LocalCluster, Client]) -> None:
    cluster, veteran = dead_first
    assert quick(lambda: veteran.create("/fo/veteran", b"x")) == "/fo/veteran"
    assert veteran.server in (cluster.address(2), cluster.address(3))


def test_the_cli_fails_over_from_a_dead_first_server(dead_first: tuple[LocalCluster, Client]) -> None:
    cluster, _ = dead_first
    servers = ",".join(cluster.servers)  # node 1, the dead one, first
    runner = CliRunner()
    created = runner.invoke(main, ["--servers", servers, "create", "/fo/cli", "y"])
    assert created.exit_code == 0, (created.output, created.exception)
    got = runner.invoke(main, ["--servers", servers, "get", "/fo/cli"])
    assert got.exit_code == 0, (got.output, got.exception)
    assert "y" in got.output
    opened = runner.invoke(main, ["--servers", servers, "session", "create", "cli-fo", "--ttl", "5"])
    assert opened.exit_code == 0, (opened.output, opened.exception)


# ---- a socket that never connects: never sent ---------------------------------------------


def dead_address() -> str:
    return f"127.0.0.1:{free_ports(1)[0]}"


def test_a_request_to_an_unreachable_server_is_reported_never_sent() -> None:
    context = zmq.Context()
    conn = Connection(dead_address(), lambda *_: None, context=context, connect_timeout=CONNECT)
    try:
        started = time.monotonic()
        with pytest.raises(ConnectionLost) as sync_err:
            conn.call("create", {"path": "/x", "data": b""}, timeout=30.0)
        assert sync_err.value.details.get("sent") is False
        with pytest.raises(ConnectionLost) as io_err:
            conn.request("watch.add", {"path": "/x", "kind": "recursive"}).result(timeout=30.0)
        assert io_err.value.details.get("sent") is False
        assert time.monotonic() - started < 2 * QUICK
    finally:
        conn.close()
        context.term()


def test_the_http_gateway_link_answers_at_once_when_its_node_is_unreachable() -> None:
    """The gateway's link to its node fails fast, as never sent (503 ConnectionLost), instead
    of holding the HTTP request until its timeout."""
    context = zmq.Context()

    async def ask() -> BaseException:
        link = NodeLink(dead_address(), asyncio.get_running_loop(), context=context)
        try:
            await link.call("get", {"path": "/x"}, timeout=30.0)
        except BaseException as exc:  # noqa: BLE001 - returned for the asserts
            return exc
        finally:
            link.close()
        raise AssertionError("a node that is not there answered")

    started = time.monotonic()
    err = asyncio.run(ask())
    context.term()
    assert isinstance(err, ConnectionLost) and err.details.get("sent") is False, err
    assert time.monotonic() - started < QUICK


# ---- no quorum: NoLeader, not ConnectionLost ---------------------------------------------------


@pytest.fixture(scope="module")
def lone_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster of which only node 3 is alive (no quorum), with /q written before."""
    with running_cluster(tmp_path_factory.mktemp("lone")) as cluster:
        client = cluster.client()
        client.create("/q", b"kept")
        client.create("/q/child", b"")
        cluster.kill(1)
        cluster.kill(2)
        yield cluster


def test_the_lone_node_answers_a_read_no_leader_promptly(lone_node: LocalCluster) -> None:
    context = zmq.Context()
    conn = Connection(lone_node.address(3), lambda *_: None, context=context)
    try:
        # its leader may have just died: at most an election timeout (0.6 s here) to notice
        with pytest.raises(NoLeader):
            conn.call("get", {"path": "/q"}, timeout=3.0)
        with pytest.raises(NoLeader):
            conn.call("lock.info", {"name": "q"}, timeout=3.0)
    except FutureTimeout:
        raise AssertionError("the node held the read instead of answering NoLeader") from None
    finally:
        conn.close()
        context.term()


@pytest.mark.parametrize("op", ["get", "children", "exists", "lock_info", "create", "set"])
def test_without_quorum_the_client_reports_no_leader(lone_node: LocalCluster, op: str) -> None:
    deadline = 3.0
    client = lone_node.client(request_timeout=deadline, attempt_timeout=1.0, connect_timeout=CONNECT)
    calls: dict[str, Callable[[], Any]] = {
        "get": lambda: client.get("/q"),
        "children": lambda: client.children("/q"),
        "exists": lambda: client.exists("/q"),
        "lock_info": lambda: client.lock_info("q"),
        "create": lambda: client.create("/q/new", b""),
        "set": lambda: client.set("/q", b"changed"),
    }
    started = time.monotonic()
    with pytest.raises((NoLeader, Timeout)) as err:
        calls[op]()
    if op not in ("create", "set"):
        assert isinstance(err.value, NoLeader), err.value  # a read has no effect: never "unknown"
    assert time.monotonic() - started < deadline + QUICK


def test_an_election_observer_hears_no_leader_from_a_lone_node(lone_node: LocalCluster) -> None:
    client = lone_node.client(request_timeout=2.0, connect_timeout=CONNECT)
    with pytest.raises(NoLeader):
        Election(client, "q", "observer").leader()
