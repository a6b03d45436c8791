"""A node that lost the state it had acknowledged stops at once with one clear message and
a non-zero exit; and no node answers a local read before it caught up with a leader."""

from __future__ import annotations

import shutil

import pytest

from skylock.errors import NoLeader
from tests.integration.cluster import LocalCluster, wait_until


def test_node_restarted_on_an_empty_data_dir_stops_with_one_message(cluster: LocalCluster) -> None:
    client = cluster.client()
    for i in range(20):
        client.create(f"/k{i}", b"v")
    cluster.wait_converged()
    leader = cluster.leader()
    victim = next(n for n in (1, 2, 3) if n != leader)
    cluster.stop(victim)
    data_dir = cluster.root / f"node{victim}"
    shutil.rmtree(data_dir)  # the disk is lost; the leader still remembers what it acknowledged
    cluster.start(victim)
    proc = cluster.procs[victim]
    wait_until(lambda: proc.poll() is not None, timeout=30, what=f"node {victim} to exit")
    del cluster.procs[victim]
    assert proc.returncode == 2
    log = (cluster.root / f"node{victim}.log").read_text()
    assert log.count("lost Raft state it had acknowledged") == 1, log
    assert str(data_dir) in log and "restore that directory from a backup" in log
    assert "Traceback" not in log and "AssertionError" not in log
    client.create("/after", b"still serving")  # the two others carry on


def test_local_reads_wait_until_the_node_caught_up_with_a_leader(cluster: LocalCluster) -> None:
    cluster.client().create("/x", b"1")
    cluster.wait_converged()
    for nid in (1, 2, 3):
        cluster.stop(nid)
    cluster.start(1)  # alone: it recovers /x from its own disk but no leader can vouch for it
    local = cluster.node_client(1)
    wait_until(lambda: local.call("ping"), what="node 1 to serve")
    with pytest.raises(NoLeader):
        local.get("/x", consistency="local")
    cluster.start(2)
    data = wait_until(lambda: local.get("/x", consistency="local")[0], what="a local read after catching up")
    assert data == b"1"
