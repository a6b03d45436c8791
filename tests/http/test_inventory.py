"""``/v1/cluster/members``' view of ``cluster.status``: lag behind the leader's commit and health."""

from __future__ import annotations

from skylock.http.inventory import members_view


def member(node_id: int, role: str, commit: int, applied: int, leader: int = 2) -> dict:
    return {"id": node_id, "role": role, "term": 3, "leader": leader, "commit": commit, "applied": applied,
            "last_index": commit, "reachable": True}


def test_lag_is_measured_from_the_leaders_commit_and_health_is_the_health_verdict() -> None:
    view = members_view({"leader": 2, "term": 3, "nodes": [
        member(1, "follower", 4000, 3990), member(2, "leader", 5200, 5200),
        {"id": 3, "reachable": False, "client_address": "127.0.0.1:3"}]})
    assert view["commit"] == 5200
    by_id = {m["id"]: m for m in view["members"]}
    assert (by_id[1]["lag"], by_id[1]["health"]) == (1210, "ok")  # /health judges a node by its own commit
    assert (by_id[2]["lag"], by_id[2]["health"]) == (0, "ok")
    assert (by_id[3]["lag"], by_id[3]["health"]) == (None, "unreachable")


def test_without_a_reachable_leader_lag_counts_from_the_highest_commit_seen() -> None:
    view = members_view({"leader": 0, "term": 3, "nodes": [
        member(1, "candidate", 10, 8, leader=0), member(2, "follower", 12, 12, leader=0)]})
    assert view["commit"] == 12
    assert [(m["lag"], m["health"]) for m in view["members"]] == [(4, "no leader"), (0, "no leader")]
