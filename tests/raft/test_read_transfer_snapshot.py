"""ReadIndex (§6.4), leadership transfer (§3.10 of the thesis) and InstallSnapshot (§7)."""

import pytest

from skylock.raft import (Entry, Message, MessageType as MT, ProgressState, ProposalDropped,
                          Role, Snapshot, SnapshotMeta, ConfState)
from tests.raft.cluster import Cluster
from tests.raft.helpers import make_leader, new_raft, persist, take


def committed_leader():
    """A leader of (1, 2, 3) whose election entry is committed, with an empty outbox."""
    r = make_leader(new_raft())
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=1))
    take(r)
    return r


# ---- ReadIndex -------------------------------------------------------------------


def test_read_index_waits_for_heartbeat_quorum() -> None:
    r = committed_leader()
    r.step(Message(MT.READ_INDEX, frm=1, context=b"q"))
    beats = take(r)
    assert {m.type for m in beats} == {MT.HEARTBEAT} and all(m.context == b"q" for m in beats)
    assert not r.read_states
    r.step(Message(MT.HEARTBEAT_RESP, to=1, frm=3, term=1, context=b"q"))
    assert [(rs.index, rs.context) for rs in r.read_states] == [(1, b"q")]


def test_reads_of_one_batch_share_one_heartbeat_round() -> None:
    r = committed_leader()
    r.step(Message(MT.READ_INDEX, frm=1, context=b"own"))
    r.step(Message(MT.READ_INDEX, to=1, frm=2, term=1, context=b"f2"))
    r.step(Message(MT.READ_INDEX, to=1, frm=3, term=1, context=b"f3"))
    beats = take(r)
    assert sorted((m.to, m.context) for m in beats) == [(2, b"f3"), (3, b"f3")]
    assert take(r) == []  # the round is not sent twice
    r.step(Message(MT.HEARTBEAT_RESP, to=1, frm=3, term=1, context=b"f3"))
    assert [(rs.index, rs.context) for rs in r.read_states] == [(1, b"own")]
    answers = [(m.to, m.index, m.context) for m in take(r) if m.type == MT.READ_INDEX_RESP]
    assert answers == [(2, 1, b"f2"), (3, 1, b"f3")]


def test_a_read_after_the_round_left_waits_for_a_round_of_its_own() -> None:
    r = committed_leader()
    r.step(Message(MT.READ_INDEX, frm=1, context=b"a"))
    assert {m.context for m in take(r)} == {b"a"}
    r.step(Message(MT.READ_INDEX, frm=1, context=b"b"))
    r.step(Message(MT.HEARTBEAT_RESP, to=1, frm=2, term=1, context=b"a"))
    assert [rs.context for rs in r.read_states] == [b"a"]  # "b" arrived after that round left
    assert {m.context for m in take(r)} == {b"b"}


def test_a_periodic_heartbeat_carrying_the_newest_read_is_its_round() -> None:
    r = committed_leader()
    r.step(Message(MT.READ_INDEX, frm=1, context=b"q"))
    r.tick()  # heartbeat_tick=1: the periodic heartbeat goes out now, carrying "q"
    assert sorted(m.context for m in take(r) if m.type == MT.HEARTBEAT) == [b"q", b"q"]


def test_read_index_uses_commit_index_at_request_time() -> None:
    r = committed_leader()
    r.step(Message(MT.READ_INDEX, frm=1, context=b"q"))
    r.step(Message(MT.PROP, frm=1, entries=(Entry(0, 0, data=b"w"),)))
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=2))  # commit moves to 2
    r.step(Message(MT.HEARTBEAT_RESP, to=1, frm=2, term=1, context=b"q"))
    assert r.read_states[0].index == 1


def test_read_index_on_single_node_is_immediate() -> None:
    r = new_raft(voters=(1,))
    r.campaign()
    r.step(Message(MT.READ_INDEX, frm=1, context=b"q"))
    assert not r.read_states  # waits for the election's entry to commit, i.e. to be durable
    persist(r)
    assert [(rs.index, rs.context) for rs in r.read_states] == [(1, b"q")]


def test_read_index_waits_until_leader_commits_in_its_term() -> None:
    r = make_leader(new_raft())
    r.step(Message(MT.READ_INDEX, frm=1, context=b"q"))
    assert not [m for m in take(r) if m.type == MT.HEARTBEAT]
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=1))  # election entry commits
    assert [m.context for m in take(r) if m.type == MT.HEARTBEAT] == [b"q", b"q"]


def test_read_index_from_follower_is_forwarded_and_answered() -> None:
    c = Cluster(3)
    c.elect(1)
    c.nodes[2].read_index(b"f")
    c.stabilize()
    assert [(rs.index, rs.context) for rs in c.read_states[2]] == [(1, b"f")]


def test_read_index_is_dropped_without_leader() -> None:
    r = new_raft()
    r.step(Message(MT.READ_INDEX, frm=1, context=b"q"))
    assert not r.read_states and not take(r)


# ---- leadership transfer ---------------------------------------------------------


def test_leadership_transfer_to_up_to_date_follower() -> None:
    c = Cluster(3)
    c.elect(1)
    c.nodes[1].transfer_leadership(2)
    c.stabilize()
    assert c.raft(2).role == Role.LEADER and c.raft(2).term == 2
    assert c.raft(1).role == Role.FOLLOWER and c.raft(1).leader == 2


def test_leadership_transfer_catches_up_lagging_target_first() -> None:
    c = Cluster(3)
    c.elect(1)
    c.partition({1, 2}, {3})
    c.nodes[1].propose(b"x")
    c.stabilize()
    c.heal()
    c.nodes[1].transfer_leadership(3)
    c.stabilize()
    assert c.raft(3).role == Role.LEADER
    assert [e.data for e in c.applied[3] if e.data] == [b"x"]


def test_leadership_transfer_refuses_proposals() -> None:
    r = committed_leader()
    r.step(Message(MT.TRANSFER_LEADER, frm=1, index=3))
    assert r.lead_transferee == 3
    with pytest.raises(ProposalDropped):
        r.step(Message(MT.PROP, frm=1, entries=(Entry(0, 0, data=b"x"),)))


def test_leadership_transfer_aborts_after_election_timeout() -> None:
    r = committed_leader()
    r.step(Message(MT.TRANSFER_LEADER, frm=1, index=3))
    for _ in range(r.election_timeout):
        r.tick()
    assert r.lead_transferee == 0 and r.role == Role.LEADER


def test_leadership_transfer_request_on_follower_goes_to_leader() -> None:
    c = Cluster(3)
    c.elect(1)
    c.nodes[2].transfer_leadership(3)
    c.stabilize()
    assert c.raft(3).role == Role.LEADER


def test_transfer_campaign_overrides_leader_lease() -> None:
    r = new_raft(check_quorum=True)
    r.step(Message(MT.HEARTBEAT, to=1, frm=2, term=1))
    take(r)
    r.step(Message(MT.VOTE, to=1, frm=3, term=2, log_term=0, index=0, context=b"transfer"))
    assert r.vote == 3 and not take(r)[0].reject


def test_timeout_now_is_obeyed_only_from_the_leader_of_the_term() -> None:
    """§3.10: TIMEOUT_NOW is what the current leader sends to hand over; from any other
    member (or while no leader is known) it would only start a needless election."""
    r = new_raft()
    r.step(Message(MT.HEARTBEAT, to=1, frm=2, term=1))
    take(r)
    r.step(Message(MT.TIMEOUT_NOW, to=1, frm=3, term=1))
    assert r.role == Role.FOLLOWER and r.term == 1 and not take(r)
    r.step(Message(MT.TIMEOUT_NOW, to=1, frm=3, term=2))  # a newer term: no leader known in it
    assert r.role == Role.FOLLOWER and r.term == 2 and r.leader == 0 and not take(r)
    r.step(Message(MT.HEARTBEAT, to=1, frm=2, term=2))
    take(r)
    r.step(Message(MT.TIMEOUT_NOW, to=1, frm=2, term=2))
    assert r.role == Role.CANDIDATE and r.term == 3
    assert {m.type for m in take(r)} == {MT.VOTE}


# ---- snapshots -------------------------------------------------------------------


def test_install_snapshot_when_follower_needs_compacted_entries() -> None:
    c = Cluster(3)
    c.elect(1)
    c.partition({1, 2}, {3})
    for d in (b"a", b"b", b"c"):
        c.nodes[1].propose(d)
    c.stabilize()
    c.compact(1, 3)
    c.heal()
    c.tick(1)
    c.stabilize()
    assert c.storages[3].snapshot().meta.index == 3
    assert c.raft(3).log.committed == 4 and c.raft(3).log.applied == 4
    assert [e.data for e in c.applied[3]] == [b"<snapshot>", b"c"]


def test_install_snapshot_is_ignored_when_not_newer_than_commit() -> None:
    r = new_raft(terms=(1, 1, 1), term=1, commit=3)
    snap = Snapshot(SnapshotMeta(2, 1, ConfState((1, 2, 3))), b"s")
    r.step(Message(MT.SNAP, to=1, frm=2, term=1, snapshot=snap))
    (m,) = take(r)
    assert m.type == MT.APP_RESP and m.index == 3
    assert r.log.unstable.snapshot is None


def test_install_snapshot_replaces_conflicting_log() -> None:
    r = new_raft(terms=(1, 1, 1), term=2)
    snap = Snapshot(SnapshotMeta(5, 2, ConfState((1, 2, 3))), b"s")
    r.step(Message(MT.SNAP, to=1, frm=2, term=2, snapshot=snap))
    assert r.log.committed == 5 and r.log.last_index() == 5 and r.log.first_index() == 6
    assert take(r)[0].index == 5


def test_report_snapshot_failure_returns_follower_to_probe() -> None:
    r = committed_leader()
    r.prs[3].become_snapshot(10)
    r.step(Message(MT.SNAP_STATUS, frm=3, reject=True))
    pr = r.prs[3]
    assert pr.state == ProgressState.PROBE and pr.probe_sent  # waits for a heartbeat response
    assert pr.next == pr.match + 1


# ---- proposals -------------------------------------------------------------------


def test_propose_without_leader_raises_proposal_dropped() -> None:
    c = Cluster(3)
    with pytest.raises(ProposalDropped):
        c.nodes[1].propose(b"x")


def test_follower_forwards_proposal_to_leader() -> None:
    c = Cluster(3)
    c.elect(1)
    c.nodes[3].propose_many([b"p", b"q"])
    (m,) = c.raft(3).msgs
    assert (m.type, m.to, [e.data for e in m.entries]) == (MT.PROP, 1, [b"p", b"q"])
    c.stabilize()
    assert [e.data for e in c.applied[3] if e.data] == [b"p", b"q"]


def test_unreported_snapshot_is_presumed_lost_after_two_election_timeouts() -> None:
    r = committed_leader()
    r.prs[3].become_snapshot(10)
    for _ in range(2 * r.election_timeout - 1):
        r.tick()
        r.step(Message(MT.HEARTBEAT_RESP, to=1, frm=2, term=1))
    assert r.prs[3].state == ProgressState.SNAPSHOT
    r.tick()
    assert r.prs[3].state == ProgressState.PROBE
