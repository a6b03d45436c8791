"""lock.acquire across the loss of the waiter's server: its own cluster (it kills a node),
in its own module so that the shared cluster of the other lock tests is already gone."""

from __future__ import annotations

import threading

from skylock.client import Client
from skylock.errors import ConnectionLost, NoLeader, SkyLockError
from tests.integration.cluster import LocalCluster, wait_until


def session_client(cluster: LocalCluster, name: str) -> Client:
    client = cluster.client()
    client.start_session(name, ttl=10.0)
    return client


def test_waiter_survives_losing_its_server(fresh_cluster: LocalCluster) -> None:
    """The waiter's server dies mid-wait: the client re-sends the same request id elsewhere,
    keeps its place (one queue entry, not two) and is granted when the holder releases."""
    cluster = fresh_cluster
    holder = session_client(cluster, "fo-holder")
    grant = holder.lock_acquire("failover", timeout=5)
    waiter = session_client(cluster, "fo-waiter")
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.update(waiter.lock_acquire("failover", timeout=30)))
    thread.start()
    wait_until(lambda: holder.lock_info("failover")["waiters"], what="waiter queued")
    wait_until(lambda: waiter.server, what="the waiter to be connected")
    doomed = cluster.servers.index(str(waiter.server)) + 1
    cluster.kill(doomed)
    survivors = [n for n in range(1, 4) if n != doomed]
    cluster.leader(among=survivors)
    wait_until(lambda: waiter.server is not None and waiter.server != cluster.address(doomed),
               what="the waiter to fail over")
    waiters = wait_until(lambda: holder.lock_info("failover")["waiters"], what="waiters listed")
    assert len(waiters) == 1  # the waiter's entry, not a second one
    holder.lock_release("failover", grant["lock_id"])
    thread.join(timeout=20)
    assert result["session_id"] == waiter.session_id and result["token"] == waiters[0]["token"]
    assert int(result["token"]) > int(grant["token"])  # type: ignore[call-overload]
    assert holder.lock_info("failover")["waiters"] == []


def test_an_unconfirmed_release_is_finished_before_the_next_acquire(fresh_cluster: LocalCluster) -> None:
    """A release whose outcome is unknown could still apply later and revoke a re-entrant grant
    of the same entry (tests/fault/FINDINGS.md F2): the next acquire sends it again first."""
    cluster = fresh_cluster
    client = cluster.client(cluster.address(1), request_timeout=1.5)
    client.start_session("f2", ttl=30.0)
    first = client.lock_acquire("f2", timeout=5)
    for node in (2, 3):  # no quorum: the release cannot be confirmed
        cluster.kill(node)
    wait_until(lambda: _no_leader(client), timeout=30, what="node 1 to lose its leader")
    try:
        client.lock_release("f2", first["lock_id"])
        raise AssertionError("a release without a quorum cannot be confirmed")
    except ConnectionLost as err:
        assert "unconfirmed" in str(err)
    for node in (2, 3):
        cluster.start(node)
    cluster.leader()
    second = wait_until(lambda: _try_acquire(client, "f2"), timeout=30, what="the acquire to go through")
    assert second["lock_id"] != first["lock_id"] and second["token"] > first["token"]
    info = client.lock_info("f2")
    assert info["holder"]["token"] == second["token"] and not info["waiters"]


def _no_leader(client: Client) -> bool:
    try:
        client.leader()
        return False
    except NoLeader:
        return True


def _try_acquire(client: Client, name: str) -> dict[str, object] | None:
    try:
        return client.lock_acquire(name, timeout=5)
    except SkyLockError:
        return None
