"""Lease reads across a paused leader, with real processes: a leader paused (SIGSTOP) while
cut off from its peers resumes with a tick count that did not move, so by its ticks its read
lease still holds; meanwhile the others elected a new leader and took a write. It must not
answer a read from its old state: it notices the stalled ticks and gives the lease up."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from skylock.errors import SkyLockError
from tests.fault.net import FilterCluster, FilterNetwork
from tests.http.conftest import http_port
from tests.integration.cluster import wait_until

pytestmark = pytest.mark.timeout(120)


def test_a_paused_leader_gives_its_read_lease_up(tmp_path: Path) -> None:
    net = FilterNetwork(tmp_path, 3)
    net.setup()
    cluster = FilterCluster(tmp_path, net, sections={"raft": {"lease_reads": True}})
    try:
        cluster.start()
        old = cluster.leader()
        others = [n for n in (1, 2, 3) if n != old]
        writer = cluster.client(*[cluster.address(n) for n in others])
        writer.create("/x", b"1")
        reader = cluster.node_client(old)
        assert reader.get("/x")[0] == b"1"
        net.block({frozenset({old, n}) for n in others})
        wait_until(lambda: cluster.node_client(old).call("cluster.leader")["leader_id"] == old
                   and _filtered(cluster, old), what="the cut applied on the old leader")
        cluster.pause(old)  # its ticks stop here, its lease (in ticks) with them
        try:
            new = cluster.leader(among=others)
            assert new != old
            writer.set("/x", b"2")
        finally:
            cluster.resume(old)
        try:
            seen = reader.get("/x")[0]
        except SkyLockError:
            seen = None  # it could not confirm its leadership: refusing is right
        assert seen != b"1", "a deposed leader answered a linearizable read from its old state"
    finally:
        cluster.close()
        net.close()


def _filtered(cluster: FilterCluster, node: int) -> bool:
    """The node's peer transport has dropped frames to or from a cut peer: the cut is in force."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port(cluster, node)}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    dropped = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("skylock_peer_dropped_filtered_total")]
    return bool(dropped) and dropped[0] > 0
