"""Lease-based reads (§6.4.1): a leader answers ReadIndex without a round while a majority's
promise holds, and never once that promise may have run out."""

from __future__ import annotations

import pytest

from skylock.raft import Config, Message
from skylock.raft import MessageType as MT
from skylock.raft.lease import LEASE_CONTEXT, lease_ticks_for

from .helpers import make_leader, new_raft, take

E = 10  # election tick
LEASE = lease_ticks_for(E, 0.1)  # 7 ticks


def lease_leader():
    """A leader of (1, 2, 3) with its election entry committed and an empty outbox."""
    r = make_leader(new_raft(check_quorum=True, election_tick=E, lease_ticks=LEASE))
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=1))
    take(r)
    return r


def beat(r) -> bytes:
    """One tick, whose heartbeat carries a lease context: returns it."""
    r.tick()
    contexts = {m.context for m in take(r) if m.type == MT.HEARTBEAT}
    assert len(contexts) == 1
    (ctx,) = contexts
    assert ctx.startswith(LEASE_CONTEXT)
    return ctx


def read(r, ctx: bytes = b"q") -> list:
    r.read_states = []
    r.step(Message(MT.READ_INDEX, frm=1, context=ctx))
    return [(rs.index, rs.context) for rs in r.read_states]


def test_the_lease_is_the_election_timeout_less_the_drift_and_two_ticks() -> None:
    assert lease_ticks_for(10, 0.1) == 7 and lease_ticks_for(20, 0.2) == 14
    assert lease_ticks_for(3, 0.1) == 0  # nothing left: no lease


def test_no_lease_before_a_majority_acknowledges_a_heartbeat() -> None:
    r = lease_leader()
    assert read(r) == []  # a ReadIndex round instead
    assert {m.type for m in take(r)} == {MT.HEARTBEAT}


def test_a_majority_acknowledgement_lets_reads_skip_the_round_until_the_lease_ends() -> None:
    r = lease_leader()
    ctx = beat(r)  # sent at tick 1
    r.step(Message(MT.HEARTBEAT_RESP, to=1, frm=2, term=1, context=ctx))
    for _ in range(LEASE):  # ticks 1 .. LEASE
        assert read(r) == [(1, b"q")] and not take(r)
        r.tick()
        take(r)
    assert read(r) == []  # sent at tick 1 + LEASE ticks: over, a round again


def test_one_follower_short_of_a_majority_gives_no_lease() -> None:
    r = make_leader(new_raft(voters=(1, 2, 3, 4, 5), check_quorum=True, election_tick=E, lease_ticks=LEASE))
    for peer in (2, 3):
        r.step(Message(MT.APP_RESP, to=1, frm=peer, term=1, index=1))
    take(r)
    ctx = beat(r)
    r.step(Message(MT.HEARTBEAT_RESP, to=1, frm=2, term=1, context=ctx))
    assert read(r) == []  # leader and one follower of five
    r.step(Message(MT.HEARTBEAT_RESP, to=1, frm=4, term=1, context=ctx))
    assert read(r) == [(1, b"q")]


def test_a_leadership_transfer_ends_the_lease_for_the_term() -> None:
    r = lease_leader()
    r.step(Message(MT.HEARTBEAT_RESP, to=1, frm=2, term=1, context=beat(r)))
    assert read(r) == [(1, b"q")]
    r.step(Message(MT.TRANSFER_LEADER, frm=2, index=2))  # 2 is caught up: TIMEOUT_NOW at once
    assert MT.TIMEOUT_NOW in {m.type for m in take(r)}
    r.lead_transferee = 0  # say the transfer gave up: the target may still campaign any time
    r.step(Message(MT.HEARTBEAT_RESP, to=1, frm=3, term=1, context=beat(r)))
    assert read(r) == []


def test_after_a_pause_only_heartbeats_sent_since_renew_the_lease() -> None:
    r = lease_leader()
    before = beat(r)
    r.lease.suspend()  # what RaftNode asks (RawNode.suspend_lease) when its ticks stalled
    r.step(Message(MT.HEARTBEAT_RESP, to=1, frm=2, term=1, context=before))
    assert not r.lease.holds()  # sent before the pause: it proves nothing about now
    r.step(Message(MT.HEARTBEAT_RESP, to=1, frm=2, term=1, context=beat(r)))
    assert read(r) == [(1, b"q")]


def test_a_restarted_node_votes_for_nobody_for_an_election_timeout() -> None:
    r = new_raft(id=2, check_quorum=True, election_tick=E, lease_ticks=LEASE)
    vote = Message(MT.VOTE, to=2, frm=3, term=5, log_term=0, index=0)
    r.step(vote)
    assert not take(r) and r.term == 0  # it may have promised a leader before it restarted
    for _ in range(E):
        r.tick()
        take(r)
    r.step(vote)
    assert [(m.type, m.reject) for m in take(r)] == [(MT.VOTE_RESP, False)]


def test_a_lease_needs_check_quorum_and_must_end_before_the_election_timeout() -> None:
    with pytest.raises(ValueError, match="check_quorum"):
        Config(id=1, election_tick=E, lease_ticks=LEASE, check_quorum=False).validate()
    with pytest.raises(ValueError, match="lease_ticks"):
        Config(id=1, election_tick=E, lease_ticks=E - 1).validate()
