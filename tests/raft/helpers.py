"""Builders shared by the paper tests: one Raft peer over a prepared MemoryStorage."""

from __future__ import annotations

import random

from skylock.raft import Config, ConfState, Entry, HardState, MemoryStorage, Message
from skylock.raft.core import Raft


def new_raft(id: int = 1, voters: tuple[int, ...] = (1, 2, 3), *, terms: tuple[int, ...] = (),
             term: int = 0, vote: int = 0, commit: int = 0, pre_vote: bool = False,
             check_quorum: bool = False, election_tick: int = 10, max_election_tick: int = 0,
             max_inflight: int = 256, max_size: int = 1 << 20, seed: int = 0, lease_ticks: int = 0) -> Raft:
    """A peer whose log holds one entry per value in ``terms`` (indexes 1, 2, ...)."""
    st = MemoryStorage()
    st.bootstrap(ConfState(voters=voters))
    st.append([Entry(t, i, data=b"e%d" % i) for i, t in enumerate(terms, 1)])
    st.set_hard_state(HardState(term, vote, commit))
    return Raft(Config(id=id, election_tick=election_tick, max_election_tick=max_election_tick,
                       heartbeat_tick=1,
                       rng=random.Random(seed), pre_vote=pre_vote, check_quorum=check_quorum,
                       max_inflight_msgs=max_inflight, max_size_per_msg=max_size, lease_ticks=lease_ticks), st)


def take(r: Raft) -> list[Message]:
    """The messages the peer wants sent, clearing its outbox (as ``RawNode.ready`` hands
    them out: after starting the read round its batch of inputs called for)."""
    r.start_read_round()
    msgs, r.msgs = r.msgs, []
    return msgs


def make_leader(r: Raft) -> Raft:
    """Elect ``r`` by handing it the votes it asks for; drains its outbox."""
    from skylock.raft import MessageType as MT

    r.campaign()
    for m in take(r):
        resp = MT.PRE_VOTE_RESP if m.type == MT.PRE_VOTE else MT.VOTE_RESP
        r.step(Message(resp, to=r.id, frm=m.to, term=m.term))
    for m in take(r):
        if m.type == MT.VOTE:
            r.step(Message(MT.VOTE_RESP, to=r.id, frm=m.to, term=m.term))
    persist(r)
    take(r)
    return r


def persist(r: Raft) -> Raft:
    """What the app's ``advance`` reports: the whole log is durable (a leader counts itself)."""
    r.on_persisted(r.log.last_index(), r.log.last_term())
    return r


def entries_of(r: Raft) -> list[tuple[int, int]]:
    """(term, index) of every entry in ``r``'s log."""
    log = r.log
    return [(e.term, e.index) for e in log.slice(log.first_index(), log.last_index() + 1)]
