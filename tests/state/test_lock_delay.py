"""Lock-delay in the state machine: an expired holder's lock stays ungranted until the
``lock_delay_end`` command that the leader proposes when the delay is over."""

import pytest

from skylock.errors import BadRequest, NotOwner
from skylock.state import StateMachine, commands, locks

from .conftest import Driver, content


@pytest.fixture
def d3(d):
    for sid in ["s1", "s2", "s3"]:
        d.open(sid)
    return d


def acquire(d: Driver, name: str, sid: str, delay_ms: int = 0, request_id: str = "r1") -> dict:
    return d.ok(commands.lock_acquire(name, session_id=sid, owner=sid, request_id=request_id,
                                      now_ms=d.now_ms, lock_delay_ms=delay_ms))


def test_an_expired_holder_leaves_the_lock_delayed_until_the_delay_ends(d3):
    held = acquire(d3, "db", "s1", delay_ms=5000)
    waiter = acquire(d3, "db", "s2")
    expiry = d3.apply(commands.expire_session(["s1"]))
    assert expiry.result["lock_grants"] == []  # the waiter is not granted
    info = d3.sm.lock_info("db")
    assert info["holder"] is None
    assert info["delay"] == {"lock_delay_ms": 5000, "entry": held["entry"], "since": d3.zxid}
    assert [w["entry"] for w in info["waiters"]] == [waiter["entry"]]
    d3.fails(commands.multi([commands.check_lock("db", token=waiter["token"], session_id="s2")], now_ms=1), NotOwner)
    # a newcomer queues behind, and is not granted either
    assert acquire(d3, "db", "s3")["holder"] is False
    since = info["delay"]["since"]
    ended = d3.ok(commands.lock_delay_end("db", since=since))
    assert ended["ended"] and ended["next_holder"]["entry"] == waiter["entry"]
    assert d3.sm.lock_info("db")["holder"]["entry"] == waiter["entry"]
    assert "delay" not in d3.sm.lock_info("db")


def test_ending_a_delay_twice_or_by_a_wrong_since_changes_nothing(d3):
    acquire(d3, "db", "s1", delay_ms=1000)
    acquire(d3, "db", "s2")
    d3.ok(commands.expire_session(["s1"]))
    since = d3.sm.lock_info("db")["delay"]["since"]
    before = content(d3.sm)
    assert d3.ok(commands.lock_delay_end("db", since=since + 1)) == {"ended": False, "next_holder": None}
    assert content(d3.sm) == before
    assert d3.ok(commands.lock_delay_end("db", since=since))["ended"]
    assert d3.ok(commands.lock_delay_end("db", since=since)) == {"ended": False, "next_holder": None}


@pytest.mark.parametrize("end", ["release", "close"])
def test_a_clean_release_or_session_close_starts_no_delay(d3, end):
    held = acquire(d3, "db", "s1", delay_ms=5000)
    waiter = acquire(d3, "db", "s2")
    if end == "release":
        d3.ok(commands.lock_release("db", session_id="s1", lock_id=held["lock_id"]))
    else:
        d3.ok(commands.close_session("s1"))
    info = d3.sm.lock_info("db")
    assert "delay" not in info and info["holder"]["entry"] == waiter["entry"]


def test_only_the_holder_with_a_delay_delays_the_lock(d3):
    acquire(d3, "db", "s1")  # no delay asked
    acquire(d3, "db", "s2", delay_ms=5000)  # a waiter's delay does not matter while it waits
    third = acquire(d3, "db", "s3")
    d3.ok(commands.expire_session(["s2"]))
    result = d3.ok(commands.expire_session(["s1"]))
    assert [g["holder"]["entry"] for g in result["lock_grants"]] == [third["entry"]]
    assert "delay" not in d3.sm.lock_info("db")


def test_lock_delay_is_bounded(d3):
    d3.fails(commands.lock_acquire("db", session_id="s1", owner="", request_id="r", now_ms=1,
                                   lock_delay_ms=locks.MAX_LOCK_DELAY_MS + 1), BadRequest)
    d3.fails(commands.lock_acquire("db", session_id="s1", owner="", request_id="r", now_ms=1,
                                   lock_delay_ms=-1), BadRequest)


def test_a_delay_survives_a_snapshot(d3):
    acquire(d3, "db", "s1", delay_ms=2000)
    acquire(d3, "db", "s2")
    d3.ok(commands.expire_session(["s1"]))
    restored = StateMachine()
    restored.restore(d3.sm.snapshot())
    assert restored.lock_info("db") == d3.sm.lock_info("db")
    assert restored.state_hash() == d3.sm.state_hash()


def test_an_acquire_without_delay_is_the_same_command_as_before():
    assert "lock_delay_ms" not in commands.lock_acquire("db", session_id="s", owner="", request_id="r", now_ms=1)
