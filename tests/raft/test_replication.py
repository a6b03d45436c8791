"""Log replication (Raft paper §5.3, §5.4.2) and the leader's flow control."""

import random

import pytest

from skylock.raft import (Config, ConfState, Entry, HardState, MemoryStorage, Message,
                          MessageType as MT, ProgressState, RawNode, Role, StateLost)
from skylock.raft.core import COMMIT_NOTICE
from tests.raft.helpers import entries_of, make_leader, new_raft, persist, take


def app(frm: int, term: int, prev: tuple[int, int], ents: tuple[tuple[int, int], ...] = (),
        commit: int = 0) -> Message:
    """An AppendEntries from ``frm``; prev = (log_term, index), ents = ((term, index), ...)."""
    return Message(MT.APP, to=1, frm=frm, term=term, log_term=prev[0], index=prev[1],
                   entries=tuple(Entry(t, i) for t, i in ents), commit=commit)


def test_leader_appends_empty_entry_on_election() -> None:
    r = make_leader(new_raft())
    assert entries_of(r) == [(1, 1)]
    assert r.log.slice(1, 2)[0].data == b""


def test_leader_replicates_proposal_to_all_followers() -> None:
    r = make_leader(new_raft())
    for to in (2, 3):
        r.step(Message(MT.APP_RESP, to=1, frm=to, term=1, index=1))
    take(r)
    r.step(Message(MT.PROP, frm=1, entries=(Entry(0, 0, data=b"x"),)))
    apps = [m for m in take(r) if m.type == MT.APP]
    assert sorted(m.to for m in apps) == [2, 3]
    assert all(m.entries[0].data == b"x" and (m.log_term, m.index) == (1, 1) for m in apps)


def test_follower_appends_entries_after_matching_prev_entry() -> None:
    r = new_raft(terms=(1,), term=1)
    r.step(app(2, 1, (1, 1), ((1, 2), (1, 3)), commit=2))
    assert entries_of(r) == [(1, 1), (1, 2), (1, 3)]
    (m,) = take(r)
    assert (m.type, m.index, m.reject) == (MT.APP_RESP, 3, False)
    assert r.log.committed == 2


def test_follower_rejects_append_with_mismatched_prev_log_term() -> None:
    r = new_raft(terms=(1, 1, 2), term=2)
    r.step(app(2, 3, (3, 3), ((3, 4),)))
    (m,) = take(r)
    assert m.reject and m.index == 3
    # fast backtracking hint: our last index with a term <= 3, and that term
    assert (m.reject_hint, m.log_term) == (3, 2)
    assert entries_of(r) == [(1, 1), (1, 2), (2, 3)]


def test_follower_rejects_append_beyond_its_log() -> None:
    r = new_raft(terms=(1,), term=1)
    r.step(app(2, 1, (1, 5), ((1, 6),)))
    (m,) = take(r)
    assert m.reject and (m.reject_hint, m.log_term) == (1, 1)


def test_follower_deletes_conflicting_entries_and_appends_new_ones() -> None:
    r = new_raft(terms=(1, 1, 1), term=1)
    r.step(app(2, 2, (1, 1), ((2, 2),)))
    assert entries_of(r) == [(1, 1), (2, 2)]


def test_follower_append_is_idempotent() -> None:
    r = new_raft(terms=(1, 1, 1), term=1)
    r.step(app(2, 1, (1, 1), ((1, 2),)))  # a delayed duplicate must not truncate 3
    assert entries_of(r) == [(1, 1), (1, 2), (1, 3)]
    assert take(r)[0].index == 2


def test_follower_commit_is_min_of_leader_commit_and_last_new_entry() -> None:
    r = new_raft(terms=(1, 1, 1), term=1)
    r.step(app(2, 1, (1, 1), ((1, 2),), commit=3))
    assert r.log.committed == 2  # entry 3 is not known to match the leader's


def test_follower_never_appends_over_committed_entries_from_stale_append() -> None:
    r = new_raft(terms=(1, 1, 1), term=1, commit=3)
    r.step(app(2, 1, (1, 1), ((1, 2),)))
    assert take(r)[0].index == 3  # answers with its commit index


def test_leader_commits_only_current_term_entries_by_counting() -> None:
    # Figure 8: entries of an earlier term are not committed by counting replicas.
    r = new_raft(terms=(1, 2), term=2)
    r.become_follower(2, 0)
    make_leader(r)  # term 3, appends (3, 3)
    assert r.term == 3
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=3, index=2))
    assert r.log.committed == 0  # index 2 is on a majority but from term 2
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=3, index=3))
    assert r.log.committed == 3  # committing 3 commits everything before it


def test_leader_backtracks_by_term_on_rejection() -> None:
    r = new_raft(terms=(1, 2, 2, 2, 4, 4), term=4)
    make_leader(r)  # term 5, last index 7
    take(r)
    pr = r.prs[2]
    pr.probe_sent = False
    # follower 2 has (1, 3, 3, 3, 3, 3, 3): rejects prev index 6 with hint 6, term 3
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=5, index=6, reject=True, reject_hint=6,
                   log_term=3))
    # our last entry with term <= 3 is index 4: skip the follower's whole term 3 at once
    assert pr.next == 5
    (m,) = take(r)
    assert (m.type, m.index, m.log_term) == (MT.APP, 4, 2)


def test_probe_state_sends_one_append_at_a_time() -> None:
    r = make_leader(new_raft())
    assert r.prs[2].state == ProgressState.PROBE
    r.step(Message(MT.PROP, frm=1, entries=(Entry(0, 0, data=b"a"),)))
    r.step(Message(MT.PROP, frm=1, entries=(Entry(0, 0, data=b"b"),)))
    assert not [m for m in take(r) if m.to == 2]  # the election's probe is unanswered


def test_pipelining_is_bounded_by_max_inflight_msgs() -> None:
    r = make_leader(new_raft(max_inflight=3))
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=1))  # -> replicate
    take(r)
    for k in range(10):
        r.step(Message(MT.PROP, frm=1, entries=(Entry(0, 0, data=b"%d" % k),)))
    to2 = [m for m in take(r) if m.to == 2 and m.entries]
    assert len(to2) == 3 and r.prs[2].inflights.full()
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=to2[0].entries[-1].index))
    more = [m for m in take(r) if m.to == 2 and m.entries]
    assert len(more) == 1  # one ack frees one slot


def test_append_batches_are_limited_by_max_size_per_msg() -> None:
    r = make_leader(new_raft(max_size=250))
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=1))
    take(r)
    r.step(Message(MT.PROP, frm=1, entries=tuple(Entry(0, 0, data=bytes(100)) for _ in range(5))))
    sizes = [len(m.entries) for m in take(r) if m.to == 2 and m.entries]
    assert sizes == [2, 2, 1]


def test_heartbeat_commit_never_exceeds_follower_match() -> None:
    r = make_leader(new_raft())
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=1))
    take(r)
    r.tick()
    commits = {m.to: m.commit for m in take(r) if m.type == MT.HEARTBEAT}
    assert commits == {2: 1, 3: 0}


def test_rejection_in_replicate_state_falls_back_to_probe() -> None:
    r = make_leader(new_raft())
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=1))
    r.step(Message(MT.PROP, frm=1, entries=(Entry(0, 0, data=b"a"),)))
    take(r)
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=2, reject=True, reject_hint=1,
                   log_term=1))
    assert r.prs[2].state == ProgressState.PROBE and r.prs[2].next == 2


def test_heartbeat_response_unblocks_full_pipeline() -> None:
    r = make_leader(new_raft(max_inflight=1))
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=1))
    r.step(Message(MT.PROP, frm=1, entries=(Entry(0, 0, data=b"a"),)))
    r.step(Message(MT.PROP, frm=1, entries=(Entry(0, 0, data=b"b"),)))
    take(r)
    assert r.prs[2].inflights.full()
    r.step(Message(MT.HEARTBEAT_RESP, to=1, frm=2, term=1))  # the append may have been lost
    assert [m.type for m in take(r) if m.to == 2] == [MT.APP]


def test_report_unreachable_moves_replicating_follower_to_probe() -> None:
    r = make_leader(new_raft())
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=1))
    assert r.prs[2].state == ProgressState.REPLICATE
    r.step(Message(MT.UNREACHABLE, frm=2))
    assert r.prs[2].state == ProgressState.PROBE


def test_leader_counts_its_own_copy_only_once_durable() -> None:
    # thesis 10.2.1: the leader sends before its fsync, so its own copy may not exist yet
    r = make_leader(new_raft())  # term 1, index 1 durable
    r.step(Message(MT.PROP, frm=1, entries=(Entry(0, 0, data=b"a"),)))  # index 2, not durable
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=2))
    assert r.log.committed == 1  # follower 2 alone is not a majority of three
    persist(r)
    assert r.log.committed == 2
    assert {m.to: m.commit for m in take(r) if m.type == MT.APP}[2] == 2  # told at once


def test_followers_can_commit_without_the_leaders_copy() -> None:
    r = make_leader(new_raft())
    r.step(Message(MT.PROP, frm=1, entries=(Entry(0, 0, data=b"a"),)))
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=2))
    r.step(Message(MT.APP_RESP, to=1, frm=3, term=1, index=2))
    assert r.log.committed == 2  # two followers are a majority: the leader's fsync is not waited for


def test_only_a_steady_leader_may_send_before_persisting() -> None:
    st = MemoryStorage()
    st.bootstrap(ConfState((1, 2, 3)))
    node = RawNode(Config(id=1, rng=random.Random(0), pre_vote=False), st)
    node.campaign()
    rd = node.ready()
    assert rd.hard_state is not None and rd.hard_state.term == 1 and not rd.send_before_persist
    st.set_hard_state(rd.hard_state)
    node.advance(rd)
    for frm in (2, 3):
        node.step(Message(MT.VOTE_RESP, to=1, frm=frm, term=1))
    rd = node.ready()  # now leader: the empty entry and its appends, same term and vote
    assert rd.soft_state is not None and rd.soft_state.role == Role.LEADER
    assert rd.entries and rd.send_before_persist


def test_follower_told_to_commit_past_its_log_reports_state_lost() -> None:
    """A node restarted on an empty disk hears the old leader's commit index (the leader
    still remembers its match): that is lost state, not a lagging log."""
    r = new_raft(id=2, term=3)  # empty log, as after losing its data directory
    with pytest.raises(StateLost) as info:
        r.step(Message(MT.HEARTBEAT, to=2, frm=1, term=3, commit=1979))
    assert (info.value.commit, info.value.last_index) == (1979, 0)
    assert r.log.committed == 0


def test_restart_with_commit_beyond_the_stored_log_reports_state_lost() -> None:
    st = MemoryStorage()
    st.bootstrap(ConfState(voters=(1, 2, 3)))
    st.append([Entry(1, 1), Entry(1, 2)])
    st.set_hard_state(HardState(1, 1, 5))  # a WAL that lost its tail but kept the hard state
    with pytest.raises(StateLost):
        RawNode(Config(id=1, rng=random.Random(0)), st)


# ---- commit notices: an append that only carries the commit index --------------------------


def test_leader_marks_a_commit_as_a_notice_only_for_a_follower_known_to_hold_everything() -> None:
    r = make_leader(new_raft())
    take(r)
    r.step(Message(MT.PROP, frm=1, entries=(Entry(0, 0, data=b"x"),)))  # index 2, in flight to both
    take(r)
    persist(r)
    r.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=2))  # commits index 2
    sent = {m.to: m for m in take(r) if m.type == MT.APP}
    assert sent[2].context == COMMIT_NOTICE and not sent[2].entries and sent[2].commit == 2
    # node 3 has not acknowledged index 2 yet: what it gets is not a notice, it must answer
    assert 3 not in sent or sent[3].context == b""


def test_follower_leaves_an_accepted_notice_unanswered_and_answers_a_rejected_one() -> None:
    r = new_raft(terms=(1, 1), term=1)
    notice = Message(MT.APP, to=1, frm=2, term=1, log_term=1, index=2, commit=2, context=COMMIT_NOTICE)
    r.step(notice)
    assert r.log.committed == 2 and take(r) == []
    r = new_raft(terms=(1,), term=1)  # lost the entry the leader thinks it holds
    r.step(notice)
    (m,) = take(r)
    assert (m.type, m.reject) == (MT.APP_RESP, True)
