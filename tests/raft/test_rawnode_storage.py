"""The application-facing contract: Ready/advance, MemoryStorage, Config, conf encoding."""

import random

import pytest

from skylock.raft import (CompactedError, Config, ConfState, Entry, HardState, MemoryStorage,
                          Message, MessageType as MT, RawNode, Role, SnapshotOutOfDateError,
                          UnavailableError, decode_conf_state, encode_conf_state)
from tests.raft.cluster import Cluster


def single_node() -> tuple[RawNode, MemoryStorage]:
    st = MemoryStorage()
    st.bootstrap(ConfState((1,)))
    return RawNode(Config(id=1, rng=random.Random(0)), st), st


def drain(node: RawNode, st: MemoryStorage) -> list:
    out = []
    while node.has_ready():
        rd = node.ready()
        st.apply_snapshot(rd.snapshot)
        st.append(rd.entries)
        st.set_hard_state(rd.hard_state)
        out.append(rd)
        node.advance(rd)
    return out


def test_fresh_node_has_no_ready() -> None:
    node, _ = single_node()
    assert not node.has_ready()


def test_hard_state_is_in_ready_only_when_changed() -> None:
    node, st = single_node()
    node.campaign()
    rds = drain(node, st)
    # the leader counts its own entry once it is durable: commit comes in the next Ready
    assert rds[0].hard_state == HardState(term=1, vote=1, commit=0)
    assert rds[0].soft_state is not None and rds[0].soft_state.role == Role.LEADER
    assert rds[1].hard_state == HardState(term=1, vote=1, commit=1) and rds[1].soft_state is None
    node.tick()
    assert not node.has_ready()  # single node: nothing to send, nothing changed
    node.propose(b"x")
    persisted, committed = drain(node, st)
    assert persisted.hard_state is None and [e.data for e in persisted.entries] == [b"x"]
    assert committed.hard_state == HardState(1, 1, 2) and not committed.entries
    assert [e.data for e in committed.committed_entries] == [b"x"]


def test_ready_does_not_repeat_what_it_handed_out() -> None:
    node, st = single_node()
    node.campaign()
    first = node.ready()
    assert first.entries and not first.committed_entries  # not durable yet, so not committed
    assert not node.has_ready()
    node.propose(b"y")  # before advancing the first Ready
    second = node.ready()
    assert [e.index for e in second.entries] == [2]
    for rd in (first, second):
        st.append(rd.entries)
        st.set_hard_state(rd.hard_state)
        node.advance(rd)
    (third,) = drain(node, st)
    assert [e.index for e in third.committed_entries] == [1, 2] and not third.entries
    assert node.status().applied == 2 and not node.has_ready()


def test_step_refuses_local_message_types() -> None:
    node, _ = single_node()
    with pytest.raises(ValueError):
        node.step(Message(MT.HUP, frm=2))


def test_status_reports_progress_on_leader_only() -> None:
    c = Cluster(3)
    c.elect(1)
    s = c.nodes[1].status()
    assert (s.role, s.leader, s.term, s.commit, s.applied, s.last_index) == (Role.LEADER, 1, 1, 1, 1, 1)
    assert set(s.progress) == {1, 2, 3} and s.progress[2].match == 1
    assert c.nodes[2].status().progress == {}


def test_restart_with_applied_does_not_reapply() -> None:
    c = Cluster(1)
    c.elect(1)
    c.nodes[1].propose(b"x")
    c.stabilize()
    node = RawNode(Config(id=1, rng=random.Random(0), applied=2), c.storages[1])
    assert node.status().applied == 2
    assert not node.ready().committed_entries


def test_apply_snapshot_through_ready_then_entries_after_it() -> None:
    c = Cluster(3)
    c.elect(1)
    c.partition({1, 2}, {3})
    c.nodes[1].propose_many([b"a", b"b"])
    c.stabilize()
    c.compact(1, 3)
    c.heal()
    c.nodes[1].propose(b"c")
    c.tick(1)
    c.stabilize()
    assert c.storages[3].first_index() == 4
    assert c.nodes[3].status().applied == 4


# ---- MemoryStorage ---------------------------------------------------------------


def storage_with(n: int) -> MemoryStorage:
    st = MemoryStorage()
    st.bootstrap(ConfState((1, 2, 3)))
    st.append([Entry(1, i, data=b"x" * 10) for i in range(1, n + 1)])
    return st


def test_storage_append_replaces_conflicting_tail() -> None:
    st = storage_with(5)
    st.append([Entry(2, 3), Entry(2, 4)])
    assert st.last_index() == 4 and [st.term(i) for i in range(1, 5)] == [1, 1, 2, 2]


def test_storage_append_rejects_gap() -> None:
    st = storage_with(2)
    with pytest.raises(Exception):
        st.append([Entry(1, 5)])


def test_storage_entries_respects_max_size_but_returns_at_least_one() -> None:
    st = storage_with(5)
    assert len(st.entries(1, 6, max_size=25)) == 2
    assert len(st.entries(1, 6, max_size=1)) == 1
    assert len(st.entries(1, 6)) == 5


def test_storage_compact_and_snapshot() -> None:
    st = storage_with(5)
    snap = st.create_snapshot(3, ConfState((1, 2, 3)), b"state")
    assert (snap.meta.index, snap.meta.term, st.snapshot().data) == (3, 1, b"state")
    st.compact(3)
    assert st.first_index() == 4 and st.last_index() == 5 and st.term(3) == 1
    with pytest.raises(CompactedError):
        st.term(2)
    with pytest.raises(CompactedError):
        st.entries(3, 5)
    with pytest.raises(UnavailableError):
        st.term(6)
    with pytest.raises(SnapshotOutOfDateError):
        st.create_snapshot(2, ConfState((1, 2, 3)), b"")


def test_storage_initial_state_comes_from_bootstrap() -> None:
    st = MemoryStorage()
    st.bootstrap(ConfState((1, 2, 3)))
    hs, conf = st.initial_state()
    assert hs == HardState() and conf.voters == (1, 2, 3)


# ---- Config and configuration encoding ---------------------------------------------


@pytest.mark.parametrize("bad", [dict(id=0), dict(election_tick=1, heartbeat_tick=1),
                                 dict(max_inflight_msgs=0), dict(max_size_per_msg=0)])
def test_config_validation_rejects_unworkable_settings(bad: dict) -> None:
    kw = dict(id=1) | bad
    with pytest.raises(ValueError):
        Config(**kw).validate()


def test_conf_state_encoding_round_trips() -> None:
    conf = ConfState((3, 1, 2))
    assert decode_conf_state(encode_conf_state(conf)) == ConfState((1, 2, 3))
