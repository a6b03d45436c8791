"""The client wire protocol: every op parses, defaults fill in, malformations are BadRequest."""

from __future__ import annotations

import msgpack
import pytest

from skylock.errors import BadRequest, NoNode, NotLeader, SkyLockError, TooLarge
from skylock.net import codec
from skylock.net.codec import OPS, PushedEvent, Reply, Request

LIMIT = 1 << 20

# a minimal valid argument set per op (required arguments only)
MINIMAL_ARGS: dict[str, dict] = {
    "ping": {},
    "session.open": {"client_id": "c1"},
    "session.heartbeat": {"session_id": "s1"},
    "session.close": {"session_id": "s1"},
    "session.list": {},
    "create": {"path": "/a"},
    "get": {"path": "/a"},
    "set": {"path": "/a", "data": b"x"},
    "delete": {"path": "/a"},
    "exists": {"path": "/a"},
    "children": {"path": "/a"},
    "multi": {"ops": [{"op": "create", "path": "/a"}]},
    "watch.add": {"path": "/a", "kind": "data"},
    "watch.remove": {"watch_id": 7},
    "cluster.status": {},
    "cluster.leader": {},
    "lock.acquire": {"name": "L", "session_id": "s1", "request_id": "r1"},
    "lock.release": {"name": "L", "session_id": "s1", "lock_id": "k1"},
    "lock.info": {"name": "L"},
    "debug.state_hash": {},
    "snapshot.begin": {},
    "snapshot.chunk": {"export_id": "e", "offset": 0},
    "auth.whoami": {},
    "auth.user_list": {},
    "auth.role_list": {},
    "auth.user_add": {"name": "u"},
    "auth.user_delete": {"name": "u"},
    "auth.user_grant_role": {"name": "u", "role": "r"},
    "auth.user_revoke_role": {"name": "u", "role": "r"},
    "auth.role_add": {"name": "r"},
    "auth.role_delete": {"name": "r"},
    "auth.role_grant": {"name": "r", "permission": "read", "prefix": "/a"},
    "auth.role_revoke": {"name": "r", "permission": "lock", "prefix": "/locks/x"},
    "member.list": {},
    "member.add": {"id": 4, "peer_address": "h:7104", "client_address": "h:7004"},
    "member.promote": {"id": 4},
    "member.remove": {"id": 4},
    "leader.transfer": {},
}


def frame(**fields) -> bytes:
    return msgpack.packb(fields, use_bin_type=True)


def bad(data: bytes) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        codec.parse_request(data, max_size=LIMIT)
    return info.value


def test_catalog_covers_every_op():
    assert set(OPS) == set(MINIMAL_ARGS)


@pytest.mark.parametrize("op", sorted(MINIMAL_ARGS))
def test_every_op_parses_with_defaults_filled(op):
    req = codec.parse_request(codec.encode_request(41, op, MINIMAL_ARGS[op]), max_size=LIMIT)
    assert req == Request(41, op, req.args)
    assert set(req.args) == {a.name for a in OPS[op].args}
    for arg in OPS[op].args:
        if not arg.required and arg.name not in MINIMAL_ARGS[op]:
            assert req.args[arg.name] == arg.default


def test_documented_defaults():
    parse = lambda op, args: codec.parse_request(codec.encode_request(1, op, args), max_size=LIMIT).args  # noqa: E731
    assert parse("create", {"path": "/a"}) == {
        "path": "/a", "data": b"", "ephemeral": False, "sequential": False, "session_id": None,
    }
    assert parse("get", {"path": "/a"})["consistency"] == "linearizable"
    assert parse("set", {"path": "/a", "data": b""})["version"] == -1
    assert parse("session.open", {"client_id": "c"})["ttl_ms"] == 0
    lock = parse("lock.acquire", {"name": "L", "session_id": "s", "request_id": "r"})
    assert lock["owner"] == "" and lock["timeout_ms"] == 30000
    assert parse("watch.add", {"path": "/", "kind": "recursive"})["from_zxid"] is None


def test_text_is_accepted_for_bytes_fields():
    req = codec.parse_request(codec.encode_request(1, "set", {"path": "/a", "data": "héllo"}), max_size=LIMIT)
    assert req.args["data"] == "héllo".encode()


def test_optional_none_and_explicit_values():
    args = {"path": "/a", "kind": "children", "from_zxid": 12, "session_id": None, "min_zxid": 0}
    assert codec.parse_request(codec.encode_request(1, "watch.add", args), max_size=LIMIT).args == args


def test_not_msgpack():
    err = bad(b"\xc1garbage")
    assert "not valid msgpack" in err.message and "id" not in err.details


def test_trailing_bytes_are_refused():
    assert "msgpack" in bad(codec.encode_request(1, "ping", {}) + b"\x00").message


def test_extension_types_are_refused():
    assert "extension" in bad(msgpack.packb(msgpack.ExtType(5, b"x"))).message


def test_huge_announced_length_is_refused_without_allocating():
    assert "msgpack" in bad(b"\xdd\xff\xff\xff\xff").message


def test_not_a_map():
    assert "must be a map" in bad(msgpack.packb([1, "ping"])).message


def test_missing_or_ill_typed_id():
    assert "no request 'id'" in bad(frame(v=1, op="ping", args={})).message
    assert "'id' must be int" in bad(frame(v=1, id="7", op="ping", args={})).message
    assert "'id' must be int" in bad(frame(v=1, id=True, op="ping", args={})).message


def test_wrong_or_missing_version_keeps_the_id():
    err = bad(frame(v=2, id=9, op="ping", args={}))
    assert "version 2" in err.message and err.details["id"] == 9
    assert "version" in bad(frame(id=9, op="ping", args={})).message


def test_missing_or_unknown_op():
    assert "'op' must be str" in bad(frame(v=1, id=3, args={})).message
    err = bad(frame(v=1, id=3, op="frobnicate", args={}))
    assert "unknown op 'frobnicate'" in err.message and err.details["id"] == 3


def test_args_must_be_a_map_and_may_be_omitted():
    assert "'args' must be a map" in bad(frame(v=1, id=3, op="ping", args=[1])).message
    assert codec.parse_request(frame(v=1, id=3, op="ping"), max_size=LIMIT).args == {}


def test_unknown_frame_field():
    assert "'extra'" in bad(frame(v=1, id=3, op="ping", args={}, extra=1)).message


def test_missing_required_argument():
    err = bad(codec.encode_request(5, "set", {"path": "/a"}))
    assert err.message == "op 'set': missing required argument 'data'" and err.details["id"] == 5


def test_ill_typed_argument_names_op_argument_and_types():
    err = bad(codec.encode_request(5, "get", {"path": "/a", "watch": "yes"}))
    assert err.message == "op 'get': argument 'watch' must be bool, got str"
    assert "must be int, got bool" in bad(codec.encode_request(5, "delete", {"path": "/a", "version": True})).message
    assert "str or None" in bad(codec.encode_request(5, "create", {"path": "/a", "session_id": 3})).message


def test_argument_outside_its_choices():
    err = bad(codec.encode_request(5, "get", {"path": "/a", "consistency": "eventual"}))
    assert "'consistency' must be one of 'linearizable', 'local'" in err.message
    assert "'kind'" in bad(codec.encode_request(5, "watch.add", {"path": "/a", "kind": "all"})).message


def test_unknown_extra_arguments_are_named():
    err = bad(codec.encode_request(5, "get", {"path": "/a", "wach": True, "zz": 1}))
    assert "unknown argument(s) 'wach', 'zz'" in err.message and "expected: path, watch, consistency" in err.message


def test_multi_ops_must_be_maps():
    assert "ops[1] must be a map" in bad(codec.encode_request(5, "multi", {"ops": [{}, 3]})).message


def test_too_large_keeps_the_id():
    data = codec.encode_request(77, "set", {"path": "/a", "data": b"x" * 5000})
    with pytest.raises(TooLarge) as info:
        codec.parse_request(data, max_size=1000)
    assert info.value.details["id"] == 77 and str(len(data)) in info.value.message


def test_too_large_garbage_has_no_id():
    with pytest.raises(TooLarge) as info:
        codec.parse_request(b"\xc1" * 100, max_size=10)
    assert "id" not in info.value.details


def test_reply_round_trip():
    assert codec.parse_server_frame(codec.encode_reply(3, {"stat": {"version": 1}, "data": b"\x00"})) == Reply(
        3, {"stat": {"version": 1}, "data": b"\x00"}, None
    )
    assert codec.parse_server_frame(codec.encode_reply(4, None)) == Reply(4, None, None)


def test_typed_error_round_trip():
    reply = codec.parse_server_frame(codec.encode_error(8, NotLeader("not the leader", leader="127.0.0.1:7002")))
    assert isinstance(reply, Reply) and reply.id == 8 and reply.result is None
    assert isinstance(reply.error, NotLeader) and reply.error.retryable
    assert reply.error.details == {"leader": "127.0.0.1:7002"} and reply.error.message == "not the leader"


def test_error_for_an_unreadable_request_has_no_id():
    reply = codec.parse_server_frame(codec.encode_error(None, BadRequest("bad")))
    assert reply.id is None and isinstance(reply.error, BadRequest)


def test_unknown_error_code_survives():
    reply = codec.parse_server_frame(frame(v=1, id=1, err={"code": "Martian", "message": "?"}))
    assert type(reply.error) is SkyLockError and reply.error.code == "Martian"


def test_unencodable_error_details_degrade_to_code_and_message():
    reply = codec.parse_server_frame(codec.encode_error(2, NoNode("gone", path=object())))
    assert isinstance(reply.error, NoNode) and reply.error.details == {}


def test_pushed_event():
    event = {"type": "changed", "path": "/a", "zxid": 12}
    assert codec.parse_server_frame(codec.encode_event(5, event)) == PushedEvent(5, event)


@pytest.mark.parametrize(
    "data",
    [b"\xc1", msgpack.packb([1]), frame(v=3, id=1, ok=1), frame(v=1, id=1), frame(v=1, watch="x", event={})],
)
def test_malformed_server_frames(data):
    with pytest.raises(BadRequest):
        codec.parse_server_frame(data)


# --------------------------------------------------------------------------- number ranges and multi keys


@pytest.mark.parametrize(("op", "args", "name"), [
    ("delete", {"path": "/a", "version": 1 << 63}, "version"),
    ("set", {"path": "/a", "data": b"", "version": (1 << 64) - 1}, "version"),
    ("delete", {"path": "/a", "version": -2}, "version"),
    ("session.open", {"client_id": "c", "ttl_ms": -1}, "ttl_ms"),
    ("watch.add", {"path": "/a", "kind": "data", "from_zxid": 1 << 63}, "from_zxid"),
    ("watch.add", {"path": "/a", "kind": "data", "from_zxid": -1}, "from_zxid"),
    ("lock.acquire", {"name": "L", "session_id": "s", "request_id": "r", "timeout_ms": 1 << 63}, "timeout_ms"),
    ("watch.remove", {"watch_id": -(1 << 63) - 1 + 1}, "watch_id"),
])
def test_ints_outside_their_range_are_named(op, args, name):
    err = bad(codec.encode_request(5, op, args))
    assert f"argument {name!r} must be an integer from" in err.message and err.details["id"] == 5


@pytest.mark.parametrize("value", [1.0, float("nan"), float("inf"), True, "1"])
def test_non_ints_where_ints_are_expected(value):
    err = bad(codec.encode_request(5, "lock.acquire", {"name": "L", "session_id": "s", "request_id": "r",
                                                       "timeout_ms": value}))
    assert "argument 'timeout_ms' must be int" in err.message


def test_int64_bounds_themselves_are_accepted():
    req = codec.parse_request(codec.encode_request(5, "delete", {"path": "/a", "version": codec.INT64_MAX}),
                              max_size=LIMIT)
    assert req.args["version"] == codec.INT64_MAX


def test_multi_op_unknown_key_is_named_with_its_index():
    err = bad(codec.encode_request(5, "multi", {"ops": [{"op": "create", "path": "/a"},
                                                        {"op": "set", "path": "/a", "data": b"", "bogus": 1}]}))
    assert "ops[1] 'set': unknown argument(s) 'bogus'" in err.message and err.details["index"] == 1


def test_multi_op_arguments_are_typed_ranged_and_defaulted():
    assert "needs 'op'" in bad(codec.encode_request(5, "multi", {"ops": [{"op": "launch"}]})).message
    assert "'version' must be an integer" in bad(codec.encode_request(
        5, "multi", {"ops": [{"op": "check", "path": "/a", "version": 1 << 63}]})).message
    assert "'token' must be int, got float" in bad(codec.encode_request(
        5, "multi", {"ops": [{"op": "check_lock", "name": "L", "token": 1.5, "session_id": "s"}]})).message
    req = codec.parse_request(codec.encode_request(5, "multi", {"ops": [{"op": "set", "path": "/a", "data": "x"}]}),
                              max_size=LIMIT)
    assert req.args["ops"] == [{"op": "set", "path": "/a", "data": b"x", "version": -1}]
