"""The lock recipe: FIFO queue of ephemeral sequential nodes, fencing tokens, ownership."""

import msgpack
import pytest

from skylock.errors import BadRequest, NoNode, NotOwner, SessionExpired
from skylock.state import EventType, commands, locks


@pytest.fixture
def d3(d):
    for sid in ["s1", "s2", "s3"]:
        d.open(sid)
    return d


def test_first_acquire_creates_parents_and_holds(d3):
    result = d3.acquire("db", "s1", request_id="req-1", owner="worker-1")
    assert result == {"lock_id": locks.lock_id_for("s1", "db", "lock-0000000000"), "entry": "lock-0000000000",
                      "token": d3.zxid, "holder": True, "predecessor": None}
    assert d3.sm.exists("/locks").ephemeral_owner == ""
    assert d3.sm.exists("/locks/db").ephemeral_owner == ""
    data, stat = d3.sm.get("/locks/db/lock-0000000000")
    assert stat.ephemeral_owner == d3.public("s1")
    assert msgpack.unpackb(data) == {"owner": "worker-1", "session": d3.public("s1"), "request_id": "req-1"}


def test_waiters_queue_fifo_each_watching_its_predecessor(d3):
    a = d3.acquire("db", "s1")
    b = d3.acquire("db", "s2")
    c = d3.acquire("db", "s3")
    assert (b["holder"], b["predecessor"]) == (False, a["entry"])
    assert (c["holder"], c["predecessor"]) == (False, b["entry"])
    info = d3.sm.lock_info("db")
    assert info["holder"]["session"] == d3.public("s1")
    assert [w["session"] for w in info["waiters"]] == [d3.public("s2"), d3.public("s3")]


def test_release_by_holder_grants_the_next_in_line(d3):
    a = d3.acquire("db", "s1")
    b = d3.acquire("db", "s2")
    applied = d3.apply(commands.lock_release("db", session_id="s1", lock_id=a["lock_id"]))
    assert applied.result == {"released": a["lock_id"], "next_holder": {
        "entry": b["entry"], "owner": "s2", "session": d3.public("s2"), "token": b["token"]}}
    assert [(e.type, e.path) for e in applied.events] == [
        (EventType.DELETED, "/locks/db/" + a["entry"]), (EventType.CHILDREN_CHANGED, "/locks/db")]


def test_release_by_a_waiter_leaves_the_holder_and_reports_no_grant(d3):
    d3.acquire("db", "s1")
    b = d3.acquire("db", "s2")
    c = d3.acquire("db", "s3")
    assert d3.ok(commands.lock_release("db", session_id="s2", lock_id=b["lock_id"]))["next_holder"] is None
    assert [w["entry"] for w in d3.sm.lock_info("db")["waiters"]] == [c["entry"]]


def test_release_of_the_last_entry_leaves_the_lock_free(d3):
    a = d3.acquire("db", "s1")
    assert d3.ok(commands.lock_release("db", session_id="s1", lock_id=a["lock_id"]))["next_holder"] is None
    assert d3.sm.lock_info("db") == {"name": "db", "holder": None, "waiters": []}


def test_release_by_another_session_is_notowner_and_changes_nothing(d3):
    a = d3.acquire("db", "s1")
    d3.fails(commands.lock_release("db", session_id="s2", lock_id=a["lock_id"]), NotOwner)


def test_release_of_a_gone_entry_is_nonode(d3):
    a = d3.acquire("db", "s1")
    d3.ok(commands.lock_release("db", session_id="s1", lock_id=a["lock_id"]))
    d3.fails(commands.lock_release("db", session_id="s1", lock_id=a["lock_id"]), NoNode)
    d3.fails(commands.lock_release("never", session_id="s1", lock_id="lock-0000000000"), NoNode)


def test_release_with_malformed_lock_id_is_badrequest(d3):
    d3.fails(commands.lock_release("db", session_id="s1", lock_id="../x"), BadRequest)


def test_acquire_is_idempotent_per_request_id(d3):
    first = d3.acquire("db", "s1", request_id="r1")
    applied = d3.apply(commands.lock_acquire("db", session_id="s1", owner="s1", request_id="r1", now_ms=1))
    assert applied.result == first
    assert applied.events == []
    assert len(d3.sm.children("/locks/db")[0]) == 1


def test_acquire_is_reentrant_for_the_same_session(d3):
    d3.acquire("db", "s1")
    waiting = d3.acquire("db", "s2", request_id="a")
    again = d3.acquire("db", "s2", request_id="b")
    assert again == waiting
    assert len(d3.sm.lock_info("db")["waiters"]) == 1


def test_fencing_token_increases_with_every_grant(d3):
    tokens = []
    for i, sid in enumerate(["s1", "s2", "s3", "s1"]):
        got = d3.acquire("db", sid, request_id=f"r{i}")
        tokens.append(got["token"])
        d3.ok(commands.lock_release("db", session_id=sid, lock_id=got["lock_id"]))
    assert tokens == sorted(tokens) and len(set(tokens)) == 4


def test_token_is_the_czxid_of_the_lock_node(d3):
    got = d3.acquire("db", "s1")
    assert got["token"] == d3.sm.exists("/locks/db/" + got["entry"]).czxid


def test_acquire_needs_a_live_session(d):
    d.fails(commands.lock_acquire("db", session_id="ghost", owner="o", request_id="r", now_ms=1), SessionExpired)


@pytest.mark.parametrize("name", ["", "a/b", "..", ".", "has space", "x" * 129, "nul\x00"])
def test_bad_lock_names_are_badrequest(d3, name):
    d3.fails(commands.lock_acquire(name, session_id="s1", owner="o", request_id="r", now_ms=1), BadRequest)
    with pytest.raises(BadRequest):
        d3.sm.lock_info(name)


def test_locks_are_independent_by_name(d3):
    assert d3.acquire("a", "s1")["holder"]
    assert d3.acquire("b", "s2")["holder"]


def test_closing_the_holder_session_wakes_the_next_waiter(d3):
    d3.acquire("db", "s1")
    d3.acquire("db", "s2")
    result = d3.ok(commands.close_session("s1"))
    assert [g["holder"]["session"] for g in result["lock_grants"]] == [d3.public("s2")]


def test_stray_nodes_in_a_lock_dir_neither_hold_nor_block(d3):
    held = d3.acquire("db", "s1")
    d3.ok(d3.create("/locks/db/note"))
    d3.ok(d3.create("/locks/db/lock-0000000099"))  # persistent, hand-made: not a contender
    assert d3.sm.lock_info("db")["waiters"] == []
    d3.ok(commands.lock_release("db", session_id="s1", lock_id=held["lock_id"]))
    assert d3.sm.lock_info("db")["holder"] is None
    assert d3.acquire("db", "s2", request_id="x")["holder"]


def test_acquire_under_an_ephemeral_locks_root_fails_cleanly(d):
    d.open("s1")
    d.ok(d.create("/locks", ephemeral=True, session_id="s1"))
    from skylock.errors import NoChildrenForEphemerals
    d.fails(commands.lock_acquire("db", session_id="s1", owner="o", request_id="r", now_ms=1), NoChildrenForEphemerals)
