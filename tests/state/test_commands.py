"""Malformed commands never raise out of apply: they change nothing and return BadRequest."""

import msgpack
import pytest

from skylock.errors import BadRequest
from skylock.state import StateMachine, commands


@pytest.mark.parametrize(
    "cmd",
    [
        None,
        "create",
        42,
        [],
        {},
        {"op": "frobnicate"},
        {"op": 7},
        {"op": "create"},
        {"op": "create", "path": "/a"},
        {"op": "create", "path": 1, "now_ms": 1},
        {"op": "create", "path": "/a", "data": "text not bytes", "now_ms": 1},
        {"op": "create", "path": "/a", "now_ms": "soon"},
        {"op": "create", "path": "/a", "now_ms": True},
        {"op": "create", "path": "/a", "now_ms": 1.5},
        {"op": "create", "path": "/a", "ephemeral": 1, "now_ms": 1},
        {"op": "set", "path": "/", "now_ms": 1},
        {"op": "delete", "path": "/a", "version": "1"},
        {"op": "multi", "ops": "notalist", "now_ms": 1},
        {"op": "multi", "ops": [], "now_ms": None},
        {"op": "session.open", "session_id": "s", "client_id": "c", "now_ms": 1},
        {"op": "session.close", "session_id": b"s"},
        {"op": "session.expire", "session_ids": "s1"},
        {"op": "session.expire", "session_ids": ["s1", 2]},
        {"op": "lock.acquire", "name": "l", "session_id": "s", "owner": "o", "request_id": 1.0, "now_ms": 1},
        {"op": "lock.release", "name": "l", "session_id": "s"},
        {"op": "check", "path": "/"},
        {"op": "check_lock", "name": "l", "token": 1, "session_id": "s"},
    ],
)
def test_malformed_command_is_badrequest_and_changes_nothing(d, cmd):
    d.open("s")
    d.fails(cmd, BadRequest)


def test_bare_check_ops_are_only_valid_inside_multi(d):
    d.fails(commands.check("/"), BadRequest)


def test_unknown_extra_fields_are_ignored(d):
    cmd = d.create("/a")
    cmd["future_option"] = {"x": 1}
    d.ok(cmd)


def test_none_for_an_optional_field_means_its_default(d):
    d.ok({"op": "create", "path": "/a", "data": None, "version": None, "now_ms": 1})
    d.ok({"op": "delete", "path": "/a", "version": None})


def test_encode_decode_round_trip_for_every_builder():
    built = [
        commands.create("/a", b"\x00\xff", ephemeral=True, sequential=True, session_id="s", now_ms=1),
        commands.set_data("/a", b"x", version=3, now_ms=2),
        commands.delete("/a", version=1),
        commands.check("/a"),
        commands.check_lock("l", token=5, session_id="s"),
        commands.multi([commands.delete("/a")], now_ms=3),
        commands.open_session("s", "c", 100, now_ms=4),
        commands.close_session("s"),
        commands.expire_session(["s", "t"]),
        commands.lock_acquire("l", session_id="s", owner="o", request_id="r", now_ms=5),
        commands.lock_release("l", session_id="s", lock_id="lock-0000000001"),
        commands.noop(),
    ]
    for cmd in built:
        assert commands.decode(commands.encode(cmd)) == cmd
        commands.parse(cmd, allowed=None)


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\x92\x01\x02", msgpack.packb({"no": "op"}),
                                  msgpack.packb({1: 2}), b"\xff" * 10])
def test_decode_of_garbage_is_badrequest(data):
    with pytest.raises(BadRequest):
        commands.decode(data)


def test_decoded_commands_apply_like_the_originals():
    a, b = StateMachine(), StateMachine()
    cmd = commands.create("/a", b"v", now_ms=9)
    a.apply(1, cmd)
    b.apply(1, commands.decode(commands.encode(cmd)))
    assert a.state_hash() == b.state_hash()


def test_non_int_zxid_is_rejected_without_raising():
    sm = StateMachine()
    applied = sm.apply("1", commands.noop())  # type: ignore[arg-type]
    assert isinstance(applied.error, BadRequest) and sm.last_zxid == 0
