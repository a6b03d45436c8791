"""Data tree rules: create / set / delete with ZooKeeper's Stat bookkeeping and events."""

import pytest

from skylock.errors import (
    BadPath, BadRequest, BadVersion, NoChildrenForEphemerals, NodeExists, NoNode, NotEmpty, SessionExpired, TooLarge,
)
from skylock.state import EventType, Stat, StateMachine, WatchEvent, commands

from .conftest import Driver


def test_root_exists_on_a_fresh_machine(d):
    data, stat = d.sm.get("/")
    assert data == b"" and stat.czxid == 0 and stat.num_children == 0
    assert d.sm.children("/") == ([], stat)


def test_create_returns_path_and_stat_and_stores_data(d):
    result = d.ok(commands.create("/a", b"hello", now_ms=42))
    assert result["path"] == "/a"
    data, stat = d.sm.get("/a")
    assert data == b"hello"
    assert result["stat"] == stat.to_wire()
    assert stat == Stat(czxid=1, mzxid=1, pzxid=1, ctime=42, mtime=42, version=0, cversion=0,
                        ephemeral_owner="", data_length=5, num_children=0)


def test_create_updates_parent_cversion_and_pzxid_but_not_mzxid(d):
    d.ok(d.create("/a"))
    d.ok(d.create("/a/b"))
    stat = d.sm.exists("/a")
    assert (stat.cversion, stat.pzxid, stat.mzxid, stat.version, stat.num_children) == (1, 2, 1, 0, 1)


def test_create_emits_created_and_children_changed_with_zxid(d):
    d.ok(d.create("/a"))
    applied = d.apply(d.create("/a/b"))
    assert applied.events == [
        WatchEvent(EventType.CREATED, "/a/b", 2),
        WatchEvent(EventType.CHILDREN_CHANGED, "/a", 2, child="b"),
    ]


def test_create_without_parent_is_nonode(d):
    d.fails(d.create("/missing/child"), NoNode)


def test_create_existing_is_nodeexists(d):
    d.ok(d.create("/a"))
    d.fails(d.create("/a"), NodeExists)


def test_create_root_is_nodeexists(d):
    d.fails(d.create("/"), NodeExists)


def test_create_with_bad_path_is_badpath(d):
    err = d.fails(d.create("/a/"), BadPath)
    assert "end with" in err.message


def test_data_over_the_limit_is_toolarge():
    d = Driver(StateMachine(max_data_size=4))
    d.ok(d.create("/ok", b"1234"))
    d.fails(d.create("/big", b"12345"), TooLarge)
    d.fails(d.set("/ok", b"12345"), TooLarge)


def test_sequential_appends_ten_digit_per_parent_counter(d):
    d.ok(d.create("/q"))
    d.ok(d.create("/r"))
    assert d.ok(d.create("/q/job-", sequential=True))["path"] == "/q/job-0000000000"
    assert d.ok(d.create("/q/job-", sequential=True))["path"] == "/q/job-0000000001"
    assert d.ok(d.create("/r/x", sequential=True))["path"] == "/r/x0000000000"
    assert d.sm.children("/q")[0] == ["job-0000000000", "job-0000000001"]


def test_sequential_counter_counts_only_sequential_creates_and_never_reuses(d):
    d.ok(d.create("/q"))
    d.ok(d.create("/q/plain"))
    first = d.ok(d.create("/q/n-", sequential=True))["path"]
    d.ok(commands.delete(first))
    assert d.ok(d.create("/q/n-", sequential=True))["path"] == "/q/n-0000000001"


def test_sequential_with_trailing_slash_names_the_child_by_number(d):
    d.ok(d.create("/q"))
    assert d.ok(d.create("/q/", sequential=True))["path"] == "/q/0000000000"


def test_sequential_clash_with_existing_name_is_nodeexists(d):
    d.ok(d.create("/q"))
    d.ok(d.create("/q/n-0000000000"))
    d.fails(d.create("/q/n-", sequential=True), NodeExists)


def test_set_data_bumps_version_mzxid_mtime_and_emits_data_changed(d):
    d.ok(commands.create("/a", b"1", now_ms=10))
    applied = d.apply(commands.set_data("/a", b"22", now_ms=20))
    data, stat = d.sm.get("/a")
    assert data == b"22"
    assert (stat.version, stat.mzxid, stat.mtime, stat.czxid, stat.ctime, stat.data_length) == (1, 2, 20, 1, 10, 2)
    assert applied.result == {"stat": stat.to_wire()}
    assert applied.events == [WatchEvent(EventType.DATA_CHANGED, "/a", 2)]


def test_set_data_with_matching_version_succeeds_and_mismatch_is_badversion(d):
    d.ok(d.create("/a"))
    d.ok(d.set("/a", b"x", version=0))
    err = d.fails(d.set("/a", b"y", version=0), BadVersion)
    assert err.details["actual"] == 1


def test_set_data_of_missing_node_is_nonode(d):
    d.fails(d.set("/nope", b""), NoNode)


def test_delete_removes_node_updates_parent_and_emits_events(d):
    d.ok(d.create("/a"))
    d.ok(d.create("/a/b"))
    applied = d.apply(commands.delete("/a/b"))
    assert applied.result == {}
    assert d.sm.exists("/a/b") is None
    stat = d.sm.exists("/a")
    assert (stat.cversion, stat.pzxid, stat.num_children) == (2, 3, 0)
    assert applied.events == [
        WatchEvent(EventType.DELETED, "/a/b", 3),
        WatchEvent(EventType.CHILDREN_CHANGED, "/a", 3, child="b"),
    ]


def test_delete_with_wrong_version_is_badversion(d):
    d.ok(d.create("/a"))
    d.fails(commands.delete("/a", version=3), BadVersion)
    d.ok(commands.delete("/a", version=0))


def test_delete_of_node_with_children_is_notempty(d):
    d.ok(d.create("/a"))
    d.ok(d.create("/a/b"))
    d.fails(commands.delete("/a"), NotEmpty)


def test_delete_of_root_is_badrequest(d):
    d.fails(commands.delete("/"), BadRequest)


def test_delete_of_missing_node_is_nonode(d):
    d.fails(commands.delete("/nope"), NoNode)


def test_ephemeral_node_records_its_owner(d):
    d.open("s1")
    d.ok(d.create("/e", ephemeral=True, session_id="s1"))
    assert d.sm.exists("/e").ephemeral_owner == d.public("s1") != "s1"  # never the secret
    assert d.sm.session("s1")["ephemerals"] == ["/e"]


def test_ephemeral_without_live_session_is_sessionexpired(d):
    d.fails(d.create("/e", ephemeral=True, session_id="ghost"), SessionExpired)
    d.fails(d.create("/e", ephemeral=True), SessionExpired)


def test_ephemeral_cannot_have_children(d):
    d.open("s1")
    d.ok(d.create("/e", ephemeral=True, session_id="s1"))
    d.fails(d.create("/e/child"), NoChildrenForEphemerals)


def test_session_id_is_ignored_for_persistent_nodes(d):
    d.ok(d.create("/p", session_id="whoever"))
    assert d.sm.exists("/p").ephemeral_owner == ""


def test_children_are_sorted_names(d):
    for name in ["c", "a", "b"]:
        d.ok(d.create("/" + name))
    assert d.sm.children("/")[0] == ["a", "b", "c"]


def test_reads_of_missing_nodes(d):
    with pytest.raises(NoNode):
        d.sm.get("/nope")
    with pytest.raises(NoNode):
        d.sm.children("/nope")
    assert d.sm.exists("/nope") is None


def test_reads_validate_paths(d):
    with pytest.raises(BadPath):
        d.sm.exists("relative")


def test_stat_and_events_round_trip_through_wire_form():
    stat = Stat(1, 2, 3, 4, 5, 6, 7, "s", 8, 9)
    assert Stat.from_wire(stat.to_wire()) == stat
    event = WatchEvent(EventType.CHILDREN_CHANGED, "/a", 5, child="b")
    assert WatchEvent.from_wire(event.to_wire()) == event
    closed = WatchEvent(EventType.SESSION_CLOSED, "", 6, session_id="s", reason="expired")
    assert WatchEvent.from_wire(closed.to_wire()) == closed


def test_zxids_need_not_be_contiguous():
    sm = StateMachine()
    assert sm.apply(5, commands.create("/a", now_ms=1)).error is None
    assert sm.apply(9, commands.set_data("/a", b"x", now_ms=2)).error is None
    stat = sm.exists("/a")
    assert (stat.czxid, stat.mzxid, sm.last_zxid) == (5, 9, 9)


def test_stale_zxid_is_rejected_without_change():
    sm = StateMachine()
    sm.apply(5, commands.create("/a", now_ms=1))
    applied = sm.apply(5, commands.create("/b", now_ms=1))
    assert isinstance(applied.error, BadRequest)
    assert sm.exists("/b") is None and sm.last_zxid == 5


def test_failed_entry_still_advances_last_zxid(d):
    d.fails(commands.delete("/nope"), NoNode)
    assert d.sm.last_zxid == 1


def test_noop_changes_nothing_but_last_zxid(d):
    assert d.ok(commands.noop()) == {}
    assert d.sm.last_zxid == 1 and d.sm.children("/")[0] == []
