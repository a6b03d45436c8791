"""Defence in depth behind the peer codec: a number the WAL cannot hold as int64 (a term
of 2**63 or more) never reaches the core's hard state, whoever steps the message."""

import random

import pytest

from skylock.raft import Config, ConfState, MemoryStorage, Message, MessageType as MT, RawNode
from skylock.raft.types import Entry, Snapshot, SnapshotMeta, numbers_in_range


def follower() -> RawNode:
    st = MemoryStorage()
    st.bootstrap(ConfState((1, 2, 3)))
    return RawNode(Config(id=1, rng=random.Random(0)), st)


@pytest.mark.parametrize("term", [1 << 63, (1 << 64) - 1])
def test_a_term_beyond_int64_is_refused_and_the_term_stays(term: int) -> None:
    node = follower()
    with pytest.raises(ValueError, match="outside 0..2"):
        node.step(Message(MT.HEARTBEAT, to=1, frm=2, term=term))
    assert node.status().term == 0
    assert not node.has_ready()


def test_the_largest_int64_term_is_still_a_term() -> None:
    node = follower()
    node.step(Message(MT.HEARTBEAT, to=1, frm=2, term=(1 << 63) - 1))
    assert node.status().term == (1 << 63) - 1


@pytest.mark.parametrize("m", [
    Message(MT.APP, to=1, frm=2, term=1, entries=(Entry(1, 1 << 63),)),
    Message(MT.APP, to=1, frm=2, term=1, commit=-1),
    Message(MT.SNAP, to=1, frm=2, term=1, snapshot=Snapshot(SnapshotMeta(1 << 63, 1))),
    Message(MT.HEARTBEAT, to=1, frm=1 << 63, term=1),
])
def test_numbers_in_range_looks_at_every_number(m: Message) -> None:
    assert not numbers_in_range(m)
