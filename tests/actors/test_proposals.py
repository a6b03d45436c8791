"""RaftNode's proposal table: retries, deadlines, commits and a leader's duties."""

from __future__ import annotations

from skylock.actors.messages import Propose, ReplyTo, Waiter
from skylock.actors.proposals import ProposalTable
from skylock.raft import Entry, EntryType
from skylock.state.envelope import decode_entry, encode_entry


def waiter(n: int) -> Waiter:
    return Waiter(ReplyTo(b"conn", n), "set")


def entry(index: int, data: bytes) -> Entry:
    return Entry(term=1, index=index, type=EntryType.NORMAL, data=data)


def test_a_committed_proposal_hands_its_waiter_to_the_entry_and_is_not_retried() -> None:
    table = ProposalTable(2, retry_seconds=1.0)
    w = waiter(1)
    tag, data = table.add(Propose({"op": "noop"}, w, deadline=10.0), now=0.0)
    assert decode_entry(data) == (2, tag, {"op": "noop"})
    assert table.committed([entry(7, data)]) == {7: w}
    assert len(table) == 0 and not table._tag_of  # nothing left behind to match a later entry
    assert table.due(5.0) == ([], [])


def test_entries_of_other_nodes_and_earlier_incarnations_are_not_taken() -> None:
    table = ProposalTable(2)
    tag, data = table.add(Propose({"op": "noop"}, waiter(1), deadline=10.0), now=0.0)
    other_origin = encode_entry(3, tag, {"op": "noop"})
    same_tag_other_command = encode_entry(2, tag, {"op": "other"})
    assert table.committed([entry(1, other_origin), entry(2, same_tag_other_command), entry(3, b"")]) == {}
    assert len(table) == 1


def test_uncommitted_proposals_are_proposed_again_until_their_deadline() -> None:
    table = ProposalTable(1, retry_seconds=1.0)
    w = waiter(1)
    _, data = table.add(Propose({"op": "noop"}, w, deadline=2.5), now=0.0)
    assert table.due(0.5) == ([], [])
    assert table.due(1.0) == ([data], [])
    assert table.due(1.5) == ([], [])  # next retry at 2.0
    assert table.due(2.0) == ([data], [])
    assert table.due(2.5) == ([], [w])
    assert len(table) == 0


def test_a_proposal_without_a_waiter_is_retried_until_it_commits() -> None:
    table = ProposalTable(1, retry_seconds=1.0)
    _, data = table.add(Propose({"op": "noop"}), now=0.0)
    for t in range(1, 50):
        assert table.due(float(t)) == ([data], [])
    assert table.committed([entry(9, data)]) == {}
    assert table.due(100.0) == ([], [])


def test_refused_first_attempts_free_their_waiters_and_keep_the_rest() -> None:
    table = ProposalTable(1)
    w = waiter(1)
    t1, _ = table.add(Propose({"op": "noop"}, w, deadline=10.0), now=0.0)
    t2, data2 = table.add(Propose({"op": "noop"}), now=0.0)
    assert table.refused([t1, t2]) == [w]
    assert table.due(1.0) == ([data2], [])


def test_a_leaders_duties_are_dropped_when_it_stops_leading() -> None:
    table = ProposalTable(1)
    table.add(Propose({"op": "session.expire", "session_ids": ["s"]}, leader_only=True), now=0.0)
    _, data = table.add(Propose({"op": "noop"}), now=0.0)
    table.not_leading()
    assert table.due(1.0) == ([data], [])


def test_retries_keep_their_order_and_the_table_stays_bounded_by_what_is_waiting() -> None:
    table = ProposalTable(1, retry_seconds=1.0)
    datas = [table.add(Propose({"op": "noop", "n": n}), now=n * 0.1)[1] for n in range(5)]
    assert table.due(1.25) == (datas[:3], [])
    assert table.due(1.45) == (datas[3:], [])
    assert table.due(2.25) == (datas[:3], [])
