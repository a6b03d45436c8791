"""Leader election (Raft paper §5.2, §5.4.1) plus pre-vote and check-quorum (§9.6, §6.2)."""

import random

import pytest

from skylock.raft import Config, ConfState, MemoryStorage, Message, MessageType as MT, Role
from skylock.raft.core import Raft
from tests.raft.cluster import Cluster
from tests.raft.helpers import make_leader, new_raft, persist, take


def test_follower_starts_election_after_election_timeout() -> None:
    r = new_raft(term=1)
    for _ in range(2 * r.election_timeout):
        r.tick()
    assert r.role == Role.CANDIDATE
    assert r.term == 2 and r.vote == 1
    votes = [m for m in take(r) if m.type == MT.VOTE]
    assert sorted(m.to for m in votes) == [2, 3] and all(m.term == 2 for m in votes)


def test_election_timeout_is_randomized_in_range() -> None:
    seen = set()
    for seed in range(50):
        r = new_raft(seed=seed, election_tick=10)
        assert 10 <= r.randomized_election_timeout < 20
        seen.add(r.randomized_election_timeout)
    assert len(seen) > 3


def test_election_timeout_is_drawn_up_to_the_configured_max() -> None:
    seen = set()
    for seed in range(200):
        r = new_raft(seed=seed, election_tick=10, max_election_tick=40)
        for _ in range(3):  # every reset draws again
            r.become_follower(r.term + 1, 0)
            assert 10 <= r.randomized_election_timeout < 40
            seen.add(r.randomized_election_timeout)
    assert min(seen) == 10 and max(seen) == 39


def test_max_election_tick_must_exceed_election_tick() -> None:
    with pytest.raises(ValueError, match="max_election_tick"):
        Config(id=1, election_tick=10, max_election_tick=10).validate()


def test_candidate_wins_election_with_majority_of_votes() -> None:
    r = new_raft(voters=(1, 2, 3, 4, 5))
    r.campaign()
    take(r)
    r.step(Message(MT.VOTE_RESP, to=1, frm=2, term=1))
    assert r.role == Role.CANDIDATE
    r.step(Message(MT.VOTE_RESP, to=1, frm=3, term=1))
    assert r.role == Role.LEADER and r.leader == 1


def test_candidate_loses_election_on_majority_of_rejections() -> None:
    r = new_raft()
    r.campaign()
    r.step(Message(MT.VOTE_RESP, to=1, frm=2, term=1, reject=True))
    r.step(Message(MT.VOTE_RESP, to=1, frm=3, term=1, reject=True))
    assert r.role == Role.FOLLOWER and r.term == 1


def test_single_node_elects_itself_immediately() -> None:
    r = new_raft(voters=(1,), pre_vote=True)
    r.campaign()
    assert r.role == Role.LEADER and r.log.committed == 0  # its entry is not durable yet
    persist(r)
    assert r.log.committed == 1


def test_candidate_steps_down_on_higher_term() -> None:
    r = new_raft()
    r.campaign()
    r.step(Message(MT.APP, to=1, frm=3, term=5, log_term=0, index=0))
    assert r.role == Role.FOLLOWER and r.term == 5 and r.leader == 3


def test_candidate_steps_down_on_append_from_leader_of_same_term() -> None:
    r = new_raft()
    r.campaign()
    r.step(Message(MT.APP, to=1, frm=2, term=1, log_term=0, index=0))
    assert r.role == Role.FOLLOWER and r.leader == 2 and r.term == 1


def test_leader_steps_down_on_higher_term() -> None:
    r = make_leader(new_raft())
    r.step(Message(MT.HEARTBEAT, to=1, frm=2, term=r.term + 1))
    assert r.role == Role.FOLLOWER and r.leader == 2


def test_follower_votes_at_most_once_per_term() -> None:
    r = new_raft()
    r.step(Message(MT.VOTE, to=1, frm=2, term=1))
    r.step(Message(MT.VOTE, to=1, frm=3, term=1))
    resp = take(r)
    assert [(m.to, m.reject) for m in resp] == [(2, False), (3, True)]
    assert r.vote == 2
    r.step(Message(MT.VOTE, to=1, frm=2, term=1))  # a retry from the same candidate
    assert not take(r)[0].reject


def test_voter_rejects_candidate_with_less_up_to_date_log() -> None:
    r = new_raft(terms=(1, 2), term=2)
    r.step(Message(MT.VOTE, to=1, frm=2, term=3, log_term=1, index=5))  # older last term
    r.step(Message(MT.VOTE, to=1, frm=3, term=4, log_term=2, index=1))  # same term, shorter
    assert [m.reject for m in take(r)] == [True, True]
    r.step(Message(MT.VOTE, to=1, frm=2, term=5, log_term=2, index=2))
    assert [m.reject for m in take(r)] == [False]


def test_stale_term_messages_are_ignored() -> None:
    r = new_raft(term=5)
    r.step(Message(MT.VOTE, to=1, frm=2, term=3))
    assert r.vote == 0 and r.term == 5 and not take(r)


def test_leader_sends_heartbeat_every_heartbeat_tick() -> None:
    r = make_leader(new_raft())
    r.tick()
    beats = take(r)
    assert sorted((m.type, m.to) for m in beats) == [(MT.HEARTBEAT, 2), (MT.HEARTBEAT, 3)]


def test_prevote_does_not_bump_term() -> None:
    r = new_raft(term=3, pre_vote=True)
    r.campaign()
    assert r.role == Role.PRE_CANDIDATE and r.term == 3 and r.vote == 0
    msgs = take(r)
    assert {m.type for m in msgs} == {MT.PRE_VOTE} and all(m.term == 4 for m in msgs)
    r.step(Message(MT.PRE_VOTE_RESP, to=1, frm=2, term=4))
    assert r.role == Role.CANDIDATE and r.term == 4


def test_prevote_rejected_by_majority_returns_to_follower() -> None:
    r = new_raft(term=3, pre_vote=True)
    r.campaign()
    r.step(Message(MT.PRE_VOTE_RESP, to=1, frm=2, term=3, reject=True))
    r.step(Message(MT.PRE_VOTE_RESP, to=1, frm=3, term=3, reject=True))
    assert r.role == Role.FOLLOWER and r.term == 3


def test_prevote_does_not_disrupt_leader() -> None:
    c = Cluster(3)
    c.elect(1)
    c.partition({1, 2}, {3})
    for _ in range(100):  # node 3 campaigns again and again, alone
        c.tick(3)
        c.tick(1)
        c.stabilize()
    assert c.raft(3).term == 1  # pre-vote kept its term from running away
    c.heal()
    for _ in range(30):
        c.tick(1)
        c.tick(3)
        c.stabilize()
    assert c.raft(1).role == Role.LEADER and c.raft(1).term == 1
    assert c.raft(3).leader == 1


def test_follower_in_leader_lease_ignores_vote_requests() -> None:
    r = new_raft(check_quorum=True)
    r.step(Message(MT.HEARTBEAT, to=1, frm=2, term=1))
    take(r)
    r.step(Message(MT.VOTE, to=1, frm=3, term=2, log_term=1, index=10))
    assert r.term == 1 and not take(r)
    r.election_elapsed = r.election_timeout  # an election timeout without hearing from 2
    r.step(Message(MT.VOTE, to=1, frm=3, term=2, log_term=1, index=10))
    assert r.term == 2 and r.vote == 3


def test_check_quorum_leader_steps_down() -> None:
    r = make_leader(new_raft(check_quorum=True))
    for _ in range(2 * r.election_timeout):
        r.tick()
    assert r.role == Role.FOLLOWER and r.leader == 0


def test_check_quorum_leader_stays_with_active_quorum() -> None:
    r = make_leader(new_raft(check_quorum=True))
    for _ in range(5 * r.election_timeout):
        r.tick()
        r.step(Message(MT.HEARTBEAT_RESP, to=1, frm=2, term=r.term))
    assert r.role == Role.LEADER


def test_stale_leader_learns_newer_term_from_response() -> None:
    r = new_raft(term=5, check_quorum=True)
    r.step(Message(MT.APP, to=1, frm=2, term=3, index=0))
    (m,) = take(r)
    assert m.type == MT.APP_RESP and m.term == 5 and m.to == 2


def test_restart_keeps_term_vote_and_log() -> None:
    c = Cluster(3)
    c.elect(1)
    c.nodes[1].propose(b"x")
    c.stabilize()
    st = c.storages[2]
    r = Raft(Config(id=2, rng=random.Random(1)), st)
    assert (r.term, r.vote, r.log.committed, r.log.last_index()) == (1, 1, 2, 2)
    assert r.role == Role.FOLLOWER


def test_node_outside_configuration_does_not_campaign() -> None:
    st = MemoryStorage()
    st.bootstrap(ConfState(voters=(2, 3)))
    r = Raft(Config(id=1, rng=random.Random(0)), st)
    for _ in range(50):
        r.tick()
    assert r.role == Role.FOLLOWER and r.term == 0
