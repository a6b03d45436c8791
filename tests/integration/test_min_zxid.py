"""A client's local reads never go back past a state it has seen: a node behind the
``min_zxid`` a read carries serves it as a linearizable read. Here the node is a follower
that was paused while the write it must show committed, read the moment it resumes."""

from __future__ import annotations

from tests.integration.cluster import LocalCluster, wait_until


def test_a_local_read_with_min_zxid_on_a_node_behind_it_shows_that_state(cluster: LocalCluster) -> None:
    leader = cluster.leader()
    follower = next(n for n in (1, 2, 3) if n != leader)
    writer = cluster.client(cluster.address(leader))
    reader = cluster.client(cluster.address(follower))
    writer.create("/ryw", b"old")
    wait_until(lambda: reader.get("/ryw", consistency="local")[0] == b"old", what="the follower to apply it")

    cluster.pause(follower)
    try:
        zxid = writer.set("/ryw", b"new")["mzxid"]  # committed by the leader and the other follower
    finally:
        cluster.resume(follower)
    got = reader.call("get", path="/ryw", consistency="local", min_zxid=zxid)
    assert got["data"] == b"new" and got["zxid"] >= zxid
    # a floor this cluster has not reached is served at the newest committed state
    far = reader.call("get", path="/ryw", consistency="local", min_zxid=zxid + 10**9)
    assert far["data"] == b"new"


def test_a_watch_set_on_a_node_behind_the_client_never_reports_what_it_saw(cluster: LocalCluster) -> None:
    """The client's writes go to the leader while its home follower is paused; a watch set there
    the moment it resumes starts after the client's own write, not at the follower's state."""
    leader = cluster.leader()
    follower = next(n for n in (1, 2, 3) if n != leader)
    client = cluster.client(cluster.address(follower))
    client.create("/wfloor", b"")
    assert client._failover.leader is not None  # its writes go to the leader

    cluster.pause(follower)
    try:
        client.create("/wfloor/seen", b"")  # committed by the leader and the other follower
    finally:
        cluster.resume(follower)
    events: list[tuple[str, str]] = []
    client.watch("/wfloor", lambda event: events.append((event.type, event.path)))
    client.create("/wfloor/after", b"")
    wait_until(lambda: events, what="the watch's first event")
    assert events[0] == ("created", "/wfloor/after")
    client.close()
