"""A real 3-node cluster: separate processes, real sockets on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from skylock.errors import NoNode
from tests.integration.cluster import LocalCluster, running_cluster, wait_until


def test_write_on_one_node_is_read_linearizably_on_another(cluster: LocalCluster) -> None:
    writer = cluster.client(cluster.address(1))
    reader = cluster.client(cluster.address(2))
    for i in range(20):
        writer.create(f"/k{i}", f"v{i}")
        data, stat = reader.get(f"/k{i}")  # linearizable by default: must see the write
        assert data == f"v{i}".encode()
        assert stat["version"] == 0
    writer.set("/k0", "changed")
    assert reader.get("/k0")[0] == b"changed"


def test_local_read_is_served_by_the_node_itself(cluster: LocalCluster) -> None:
    cluster.client().create("/local", "x")
    follower_client = cluster.client(cluster.address(3))
    data = wait_until(lambda: follower_client.get("/local", consistency="local")[0])
    assert data == b"x"


def test_killing_the_leader_elects_another_and_loses_no_acknowledged_write(cluster: LocalCluster) -> None:
    client = cluster.client()
    acked = [client.create(f"/before{i}", str(i)) for i in range(30)]
    old = cluster.leader()
    cluster.kill(old)
    new = cluster.leader()
    assert new != old
    acked += [client.create(f"/after{i}", str(i)) for i in range(10)]
    for path in acked:
        assert client.get(path)[0]
    cluster.start(old)
    cluster.wait_converged()


def test_killed_follower_catches_up_after_restart(cluster: LocalCluster) -> None:
    leader = cluster.leader()
    follower = next(n for n in (1, 2, 3) if n != leader)
    cluster.kill(follower)
    client = cluster.client(cluster.address(leader))
    for i in range(50):
        client.create(f"/while-down-{i}", str(i))
    cluster.start(follower)
    probe = cluster.node_client(follower)
    wait_until(lambda: probe.exists("/while-down-49", consistency="local") is not None)
    cluster.wait_converged()


def test_far_behind_follower_catches_up_by_install_snapshot(tmp_path: Path) -> None:
    with running_cluster(tmp_path, sections={"storage": {"snapshot_entries": 40, "keep_entries": 10}}) as c:
        leader = c.leader()
        follower = next(n for n in (1, 2, 3) if n != leader)
        c.kill(follower)
        client = c.client(c.address(leader))
        for i in range(150):
            client.set("/", str(i)) if i % 2 else client.create(f"/snap-{i}", str(i))
        c.start(follower)
        probe = c.node_client(follower)
        wait_until(lambda: probe.exists("/snap-148", consistency="local") is not None, timeout=20)
        c.wait_converged()
        log = (tmp_path / f"node{follower}.log").read_text()
        assert "restored snapshot" in log  # it was brought up by InstallSnapshot, not by replaying entries


def test_whole_cluster_kill_and_restart_keeps_every_acknowledged_write(cluster: LocalCluster) -> None:
    client = cluster.client()
    acked = {client.create(f"/durable-{i}", str(i)): str(i).encode() for i in range(40)}
    for node_id in (1, 2, 3):
        cluster.kill(node_id)
    cluster.start()
    cluster.leader(timeout=20)
    for path, data in acked.items():
        assert client.get(path)[0] == data
    cluster.wait_converged()


def test_deleted_node_is_gone_everywhere(cluster: LocalCluster) -> None:
    client = cluster.client()
    client.create("/gone", "x")
    client.delete("/gone")
    for node_id in (1, 2, 3):
        with pytest.raises(NoNode):
            cluster.node_client(node_id).get("/gone")


def test_all_nodes_end_with_the_same_state_hash(cluster: LocalCluster) -> None:
    clients = [cluster.client(cluster.address(n)) for n in (1, 2, 3)]
    for i in range(30):
        c = clients[i % 3]
        path = c.create("/seq-", str(i), sequential=True)
        c.set(path, "again")
    cluster.wait_converged()
