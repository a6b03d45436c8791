"""Single-server membership changes (Raft thesis chapter 4): learners, promotion, removal."""

from __future__ import annotations

import random

import pytest

from skylock.raft import (Config, ConfChange, ConfChangeRefused, ConfChangeType as CT, ConfState,
                          MemoryStorage, RawNode, Role)
from skylock.raft.membership import ConfLog, apply_change
from skylock.raft.types import Entry, EntryType, decode_conf_state, encode_conf_state

from .cluster import Cluster


def _join(c: Cluster, node_id: int) -> None:
    """A new, empty peer that knows nothing of the cluster (``serve --join``)."""
    st = MemoryStorage()
    st.bootstrap(ConfState())
    c.storages[node_id] = st
    c.nodes[node_id] = RawNode(Config(id=node_id, rng=random.Random(node_id)), st)
    c.applied[node_id] = []
    c.read_states[node_id] = []


def _change(c: Cluster, leader: int, kind: CT, node_id: int, ctx: bytes = b"") -> None:
    c.nodes[leader].propose_conf_change(ConfChange(kind, node_id, ctx))
    c.stabilize()


def _leader_of(c: Cluster) -> int:
    return next(i for i, n in c.nodes.items() if n.raft.role == Role.LEADER)


def test_learner_catches_up_without_voting_then_is_promoted() -> None:
    c = Cluster(3)
    c.elect(1)
    c.nodes[1].propose(b"before")
    c.stabilize()
    _join(c, 4)
    _change(c, 1, CT.ADD_LEARNER, 4, b"addr4")
    r4 = c.raft(4)
    assert r4.conf.learners == (4,) and r4.conf.voters == (1, 2, 3)
    assert dict(r4.conf.contexts)[4] == b"addr4"
    assert [e.data for e in c.applied[4] if e.data == b"before"] == [b"before"]
    # a learner never campaigns, however long it waits
    c.down.add(1)
    c.tick(4, 100)
    assert r4.role == Role.FOLLOWER
    c.down.clear()
    c.stabilize()
    _change(c, 1, CT.PROMOTE, 4)
    assert all(c.raft(i).conf.voters == (1, 2, 3, 4) for i in c.nodes)


def test_learner_does_not_count_toward_commit() -> None:
    c = Cluster(3)
    c.elect(1)
    _join(c, 4)
    _change(c, 1, CT.ADD_LEARNER, 4)
    c.partition({1, 4}, {2, 3})  # leader + learner: no majority of the voters
    c.nodes[1].propose(b"x")
    c.stabilize()
    assert c.raft(4).log.last_index() == c.raft(1).log.last_index()  # the learner has it
    assert c.raft(1).log.committed < c.raft(1).log.last_index()      # but it is not committed


def test_one_uncommitted_change_at_a_time() -> None:
    c = Cluster(3)
    c.elect(1)
    c.partition({1}, {2, 3})
    c.nodes[1].propose_conf_change(ConfChange(CT.ADD_LEARNER, 4))
    with pytest.raises(ConfChangeRefused, match="not committed"):
        c.nodes[1].propose_conf_change(ConfChange(CT.ADD_LEARNER, 5))


def test_followers_cannot_propose_changes_and_invalid_changes_are_refused() -> None:
    c = Cluster(3)
    c.elect(1)
    with pytest.raises(ConfChangeRefused, match="not the leader"):
        c.nodes[2].propose_conf_change(ConfChange(CT.REMOVE, 3))
    with pytest.raises(ConfChangeRefused, match="not a learner"):
        c.nodes[1].propose_conf_change(ConfChange(CT.PROMOTE, 9))
    with pytest.raises(ConfChangeRefused, match="already a member"):
        c.nodes[1].propose_conf_change(ConfChange(CT.ADD_LEARNER, 2))


def test_removed_leader_steps_down_once_committed_and_hands_over() -> None:
    c = Cluster(3)
    c.elect(1)
    _change(c, 1, CT.REMOVE, 1)
    assert c.raft(1).role == Role.FOLLOWER
    assert not c.raft(1).promotable()
    new = _leader_of(c)  # handed over with TIMEOUT_NOW: no election timeout lost
    assert new in (2, 3) and c.raft(new).conf.voters == (2, 3)
    c.tick(1, 100)  # the removed node never campaigns
    c.stabilize()
    assert c.raft(1).role == Role.FOLLOWER and _leader_of(c) == new
    c.nodes[new].propose(b"after")
    c.stabilize()
    assert c.raft(new).log.committed == c.raft(new).log.last_index()


def test_removed_follower_learns_it_and_stops_campaigning() -> None:
    c = Cluster(3)
    c.elect(1)
    _change(c, 1, CT.REMOVE, 3)
    assert c.raft(3).conf.voters == (1, 2)
    c.tick(1)  # a heartbeat tells node 3 the removal is committed; the leader then forgets it
    c.stabilize()
    assert 3 not in c.raft(1).prs and not c.raft(3).promotable()
    c.tick(3, 100)
    assert c.raft(3).role == Role.FOLLOWER and not c.raft(3).msgs


def test_truncated_change_reverts_the_configuration() -> None:
    c = Cluster(3)
    c.elect(1)
    c.partition({1}, {2, 3})
    c.nodes[1].propose_conf_change(ConfChange(CT.REMOVE, 3))
    c.process_ready(1)
    assert c.raft(1).conf.voters == (1, 2)  # in force on append (thesis rule)
    c.tick(3, 10)  # past the leader lease, so node 3 will vote
    c.elect(2)
    assert c.raft(2).role == Role.LEADER
    c.heal()
    c.nodes[2].propose(b"y")
    c.tick(2)  # a heartbeat reaches node 1: the old leader learns the new term
    c.stabilize()
    assert c.raft(1).role == Role.FOLLOWER
    assert c.raft(1).conf.voters == (1, 2, 3)  # the uncommitted change was overwritten


def test_snapshot_carries_the_configuration_to_a_joiner() -> None:
    c = Cluster(3)
    c.elect(1)
    _join(c, 4)
    c.partition({1, 2, 3}, {4})
    _change(c, 1, CT.ADD_LEARNER, 4, b"ctx")
    for k in range(5):
        c.nodes[1].propose(b"v%d" % k)
    c.stabilize()
    index = c.raft(1).log.committed
    st = c.storages[1]
    st.create_snapshot(index, c.nodes[1].conf_state_at(index), b"state")
    st.compact(index)
    c.heal()
    c.tick(1)  # a heartbeat: the learner answers, and the leader finds it needs the snapshot
    c.stabilize()
    assert c.applied[4][0].data == b"<snapshot>"
    assert c.raft(4).conf.learners == (4,) and c.raft(4).conf.voters == (1, 2, 3)


def test_conf_log_and_encoding() -> None:
    base = ConfState((1, 2, 3))
    added = apply_change(base, ConfChange(CT.ADD_LEARNER, 4, b"a"))
    assert decode_conf_state(encode_conf_state(added)) == added
    assert decode_conf_state(encode_conf_state(base)) == base
    log = ConfLog(0, base, [Entry(1, 5, EntryType.CONF, encode_conf_state(added))])
    assert log.at(4) == base and log.at(5) == added and log.latest_index() == 5
    log.truncate_from(5)
    assert log.latest() == base
    with pytest.raises(ConfChangeRefused, match="last voter"):
        apply_change(ConfState((1,)), ConfChange(CT.REMOVE, 1))
