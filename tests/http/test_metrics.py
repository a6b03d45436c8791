"""``GET /health`` and ``GET /metrics`` on every node's HTTP port, on a cluster of its own
(the last test kills two of its nodes)."""

from __future__ import annotations

import http.client
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
    with running_cluster(tmp_path_factory.mktemp("metrics-cluster")) as c:
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


def test_a_survivor_without_quorum_is_unhealthy_with_no_leader(cluster: LocalCluster) -> None:
    survivor = 3
    rest = Rest(http_port(cluster, survivor))
    cluster.kill(1)
    cluster.kill(2)
    answer = wait_until(lambda: (a := rest.get("/health")).status == 503 and a, what="the survivor unhealthy")
    assert answer.body == {"status": "unavailable", "reason": "no leader"}


def test_a_node_far_behind_its_commit_index_is_unhealthy() -> None:
    fit = {"leader": 2, "commit": 5000, "applied": 4500}
    assert verdict(fit) is None
    assert verdict({**fit, "applied": 3000}) == "applied index 3000 is 2000 behind commit"
    assert verdict({**fit, "leader": 0}) == "no leader"
