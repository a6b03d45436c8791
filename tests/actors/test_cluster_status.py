"""The lag column of ``cluster.status`` (see ``skylock.actors.cluster_status``)."""

from __future__ import annotations

from skylock.actors.cluster_status import with_lag


def node(node_id: int, commit: int, applied: int, reachable: bool = True) -> dict:
    return {"id": node_id, "commit": commit, "applied": applied, "reachable": reachable}


def test_lag_is_measured_against_the_leaders_commit_index() -> None:
    nodes = with_lag([node(1, 100, 98), node(2, 90, 60), node(3, 100, 100)], leader=1)
    assert [n["lag"] for n in nodes] == [2, 40, 0]
    assert nodes[1]["applied"] == 60  # the answers are kept as they were


def test_no_lag_without_a_leader_to_measure_against_or_for_a_silent_node() -> None:
    assert [n["lag"] for n in with_lag([node(1, 5, 5), node(2, 5, 5)], leader=0)] == [None, None]
    silent_leader = with_lag([node(1, 0, 0, reachable=False), node(2, 5, 5)], leader=1)
    assert [n["lag"] for n in silent_leader] == [None, None]
    silent = with_lag([node(1, 9, 9), {"id": 2, "reachable": False}], leader=1)
    assert [n["lag"] for n in silent] == [0, None]


def test_a_node_ahead_of_an_earlier_answer_of_the_leader_shows_no_negative_lag() -> None:
    assert with_lag([node(1, 10, 10), node(2, 12, 12)], leader=1)[1]["lag"] == 0
