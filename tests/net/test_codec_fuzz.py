"""Fuzzing the client request gate: any msgpack value either parses into a request whose
every argument has its declared type and range, or is refused with a typed error that can
be sent back; nothing else ever escapes ``parse_request``."""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skylock.errors import BadRequest, SkyLockError
from skylock.net import codec
from skylock.net.codec import INT64_MAX, MULTI_OPS, OPS, ArgSpec, OpSpec

LIMIT = 1 << 16
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: every msgpack scalar, including ints at and beyond int64 and non-finite floats
packable_ints = st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1)
scalars = st.one_of(
    st.none(), st.booleans(), packable_ints,
    st.sampled_from([-(1 << 63), INT64_MAX, 1 << 63, (1 << 64) - 1, -1, -2, 0]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), st.binary(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8) | packable_ints, inner, max_size=4),
    max_leaves=12,
)


def _args_for(spec: OpSpec) -> st.SearchStrategy[dict[Any, Any]]:
    """Near-valid arguments: the op's own names (some left out), arbitrary values, maybe an extra key."""
    names = spec.arg_names() + ["bogus"]
    return st.dictionaries(st.sampled_from(names), values, max_size=len(names))


multi_ops = st.lists(
    st.sampled_from(sorted(MULTI_OPS)).flatmap(lambda n: _args_for(MULTI_OPS[n]).map(lambda a: {"op": n, **a}))
    | values,
    max_size=3,
)


@st.composite
def near_requests(draw: st.DrawFn) -> Any:
    op = draw(st.sampled_from(sorted(OPS)))
    args = draw(_args_for(OPS[op]))
    if op == "multi" and draw(st.booleans()):
        args["ops"] = draw(multi_ops)
    return {"v": draw(st.sampled_from([1, 1, 2, "1"])), "id": draw(st.integers(-5, 1 << 40)), "op": op, "args": args}


def _assert_conforms(arg: ArgSpec, value: Any) -> None:
    kinds = tuple(t for t in arg.types)
    if int in kinds and type(value) is int:
        assert arg.minimum <= value <= INT64_MAX
        return
    assert isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds), (arg.name, value)
    if arg.choices is not None:
        assert value in arg.choices


def _assert_valid(req: codec.Request) -> None:
    spec = OPS[req.op]
    assert set(req.args) == set(spec.arg_names())
    for arg in spec.args:
        _assert_conforms(arg, req.args[arg.name])
    for sub in req.args.get("ops", []) if req.op == "multi" else []:
        inner = MULTI_OPS[sub["op"]]
        assert set(sub) == {"op", *inner.arg_names()}
        for arg in inner.args:
            _assert_conforms(arg, sub[arg.name])


def _check(frame: bytes) -> None:
    try:
        req = codec.parse_request(frame, max_size=LIMIT)
    except SkyLockError as err:
        assert isinstance(err, BadRequest) and err.message
        codec.parse_server_frame(codec.encode_error(err.details.get("id"), err))  # answerable as is
        return
    _assert_valid(req)


@FUZZ
@given(values)
def test_any_msgpack_value_is_a_request_or_a_typed_error(value: Any) -> None:
    _check(msgpack.packb(value, use_bin_type=True))


@FUZZ
@given(near_requests())
def test_near_valid_requests_are_checked_argument_by_argument(msg: Any) -> None:
    _check(msgpack.packb(msg, use_bin_type=True))


@FUZZ
@given(st.binary(max_size=64))
def test_arbitrary_bytes_are_a_typed_error(frame: bytes) -> None:
    _check(frame)
