"""``GET /health`` and ``GET /metrics`` on every node's HTTP port, on a cluster of its own
(the last test kills two of its nodes)."""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from skylock.http.health import verdict
from tests.http.conftest import http_port
from tests.http.rest import Rest
from tests.integration.cluster import LocalCluster, running_cluster, wait_until


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    # snapshots often, so that "snapshots taken" moves within a few dozen writes
    with running_cluster(tmp_path_factory.mktemp("metrics-cluster"),
                         sections={"storage": {"snapshot_entries": 20}}) as c:
        yield c


def scrape(port: int) -> dict[str, float]:
    """Every sample of ``/metrics`` as ``name{labels}`` -> value (the text must parse)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        text = resp.read().decode()
        assert resp.status == 200, text
        assert resp.headers["Content-Type"].startswith("text/plain")
    finally:
        conn.close()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k != "node")
            samples[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return samples


def test_health_is_ok_on_every_node_of_a_healthy_cluster(cluster: LocalCluster) -> None:
    for node_id in (1, 2, 3):
        rest = Rest(http_port(cluster, node_id))
        answer = wait_until(lambda: (a := rest.get("/health")).status == 200 and a, what=f"node {node_id} healthy")
        assert answer.body == {"status": "ok"}


def test_metrics_report_raft_position_and_counters_that_move(cluster: LocalCluster) -> None:
    leader = cluster.leader()
    port = http_port(cluster, leader)
    before = scrape(port)
    assert before["skylock_raft_term"] >= 1
    assert before["skylock_raft_leader_id"] == leader
    assert before["skylock_raft_role{role=leader}"] == 1 and before["skylock_raft_role{role=follower}"] == 0
    assert 0 < before["skylock_raft_applied_index"] <= before["skylock_raft_commit_index"]
    assert before["skylock_raft_commit_index"] <= before["skylock_raft_last_index"]
    assert "skylock_peer_sent_total" in before and "skylock_watch_watches" in before

    rest = Rest(port)
    for i in range(5):
        assert rest.put(f"/v1/nodes/metrics/n{i}", {"data": "x"}).status == 201
    after = scrape(port)
    assert after["skylock_client_received_total"] >= before["skylock_client_received_total"] + 5
    assert after["skylock_raft_commit_index"] >= before["skylock_raft_commit_index"] + 5

    follower = scrape(http_port(cluster, next(n for n in (1, 2, 3) if n != leader)))
    assert follower["skylock_raft_role{role=follower}"] == 1 and follower["skylock_raft_leader_id"] == leader


WRITES, SIZE = 30, 100


def test_every_listed_metric_family_reports_a_sane_value_after_writes(cluster: LocalCluster) -> None:
    """Raft term, role, commit and applied index, leader changes, proposals committed and
    failed, fsync latency, entries per append and per fsync, request latency per op,
    sessions, ephemerals, watches, locks held and waiting, znode count and bytes, snapshots
    taken, bytes in and out, client connections: each present, and moved by what was done."""
    leader = cluster.leader()
    port = http_port(cluster, leader)
    holder = cluster.client(cluster.address(leader))
    waiter = cluster.client(cluster.address(leader))
    holder.start_session("metrics-holder")
    waiter.start_session("metrics-waiter")
    before = scrape(port)
    holder.create("/families", b"")
    for i in range(WRITES):
        holder.create(f"/families/n{i}", b"x" * SIZE)
    holder.create("/families/mine", b"", ephemeral=True)
    holder.watch("/families", lambda event: None)
    held = holder.lock_acquire("families")
    queued = threading.Thread(target=waiter.lock_acquire, args=("families",), kwargs={"timeout": 20.0})
    queued.start()
    try:
        during = wait_until(lambda: (m := scrape(port))["skylock_locks_waiting"] >= 1 and m,
                            what="the second acquire queued behind the holder")
    finally:
        holder.lock_release("families", held["lock_id"])
        queued.join(timeout=30)

    assert during["skylock_raft_term"] >= 1 and during["skylock_raft_role{role=leader}"] == 1
    assert 0 < during["skylock_raft_applied_index"] <= during["skylock_raft_commit_index"]
    assert during["skylock_raft_leader_changes_total"] >= 1
    assert during["skylock_proposals_committed_total"] >= before["skylock_proposals_committed_total"] + WRITES + 2
    assert 0 <= during["skylock_proposals_failed_total"] < during["skylock_proposals_committed_total"]
    assert during["skylock_snapshots_taken_total"] >= 1
    assert during["skylock_wal_fsync_seconds_count"] >= before["skylock_wal_fsync_seconds_count"] + WRITES
    assert 0 < during["skylock_wal_fsync_seconds_sum"] < during["skylock_wal_fsync_seconds_count"]
    assert during["skylock_wal_entries_per_fsync_sum"] >= before["skylock_wal_entries_per_fsync_sum"] + WRITES
    # each entry goes to both followers in some append
    assert during["skylock_raft_entries_per_append_sum"] >= before["skylock_raft_entries_per_append_sum"] + 2 * WRITES
    assert during["skylock_request_seconds_count{op=create}"] >= WRITES + 2
    assert during["skylock_request_seconds_bucket{le=+Inf,op=create}"] == during["skylock_request_seconds_count{op=create}"]
    assert during["skylock_request_seconds_count{op=session.open}"] >= 2
    assert during["skylock_sessions"] >= 2
    assert during["skylock_ephemerals"] >= 3  # the ephemeral node and both lock entries
    assert during["skylock_watch_watches"] >= 1
    assert during["skylock_locks_held"] >= 1 and during["skylock_locks_waiting"] >= 1
    assert during["skylock_znodes"] >= WRITES + 2
    assert during["skylock_znode_bytes"] >= WRITES * SIZE
    # the data comes in from the client and goes out to both followers; replies and acks are small
    for name, grew in (("client_bytes_received", WRITES * SIZE), ("peer_bytes_sent", 2 * WRITES * SIZE),
                       ("client_bytes_sent", 1), ("peer_bytes_received", 1)):
        assert during[f"skylock_{name}_total"] >= before[f"skylock_{name}_total"] + grew, name
    assert during["skylock_client_connections"] >= 2

    after = wait_until(lambda: (m := scrape(port))["skylock_locks_waiting"] == 0 and m, what="the queue emptied")
    assert after["skylock_locks_held"] >= 1  # the waiter holds it now
    for client in (holder, waiter):  # now: closing their sessions needs the quorum a later test takes away
        client.close()


def test_every_metric_docs_deploy_names_is_served(cluster: LocalCluster) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "DEPLOY.md").read_text()
    named = set(re.findall(r"`(skylock_[a-z_]+)", doc))
    assert len(named) >= 20
    served = {name.split("{")[0] for name in scrape(http_port(cluster, cluster.leader()))}
    # a histogram is served as _bucket, _count and _sum
    served |= {re.sub(r"_(bucket|count|sum)$", "", name) for name in served}
    assert named <= served, sorted(named - served)


def test_status_shows_each_nodes_lag_behind_the_leaders_commit(cluster: LocalCluster) -> None:
    leader = cluster.leader()
    cluster.wait_converged()
    shown = subprocess.run([sys.executable, "-m", "skylock.cli", "--servers", cluster.address(leader), "status"],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    lines = [line for line in shown.stdout.splitlines() if line.strip().startswith("node ")]
    assert len(lines) == 3 and all(re.search(r" lag \d+$", line) for line in lines), shown.stdout
    rest = Rest(http_port(cluster, leader))
    nodes = rest.get("/v1/cluster/status").body["nodes"]
    leading = next(n for n in nodes if n["id"] == leader)
    assert all(n["lag"] == leading["commit"] - n["applied"] >= 0 for n in nodes), nodes


def test_a_survivor_without_quorum_is_unhealthy_with_no_leader(cluster: LocalCluster) -> None:
    survivor = 3
    rest = Rest(http_port(cluster, survivor))
    cluster.kill(1)
    cluster.kill(2)
    answer = wait_until(lambda: (a := rest.get("/health")).status == 503 and a, what="the survivor unhealthy")
    assert answer.body == {"status": "unavailable", "reason": "no leader"}
    failed = scrape(http_port(cluster, survivor))["skylock_proposals_failed_total"]
    assert rest.put("/v1/nodes/metrics/refused", {"data": "x"}).status == 503
    assert scrape(http_port(cluster, survivor))["skylock_proposals_failed_total"] >= failed + 1


def test_a_node_far_behind_its_commit_index_is_unhealthy() -> None:
    fit = {"leader": 2, "commit": 5000, "applied": 4500}
    assert verdict(fit) is None
    assert verdict({**fit, "applied": 3000}) == "applied index 3000 is 2000 behind commit"
    assert verdict({**fit, "leader": 0}) == "no leader"
