"""The peer codec refuses every field that is not what an honest peer sends: exact types,
int64 ranges, sizes, message types, and a sender that is not the connection's."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skylock.errors import BadRequest
from skylock.net import peer_codec
from skylock.net.peer_codec import (
    PeerLimits,
    RaftFrame,
    StatusAnswer,
    StatusAsk,
    Touches,
    TouchesAck,
    encode_peer,
    encode_raft,
    parse_peer_frame,
)
from skylock.raft.types import (
    Entry,
    EntryType,
    Message,
    MessageType as MT,
    Snapshot,
    SnapshotMeta,
    ConfState,
    encode_conf_state,
    message_to_wire,
)

BIG = 1 << 63  # the first value outside int64


def parse(payload: bytes, sender: int = 2, receiver: int = 1, **kw: Any):
    return parse_peer_frame(payload, sender=sender, receiver=receiver, **kw)


def wire(m: Message) -> list[Any]:
    return message_to_wire(m)


def raft_payload(w: list[Any]) -> bytes:
    return encode_peer(peer_codec.RAFT, w)


def refused(payload: bytes, match: str | None = None, **kw: Any) -> None:
    with pytest.raises(BadRequest, match=match):
        parse(payload, **kw)


HONEST = [
    Message(MT.PROP, to=1, frm=2, entries=(Entry(0, 0, EntryType.NORMAL, b"cmd"),)),
    Message(MT.APP, to=1, frm=2, term=5, log_term=4, index=10,
            entries=(Entry(4, 11, EntryType.NORMAL, b"a"), Entry(5, 12, EntryType.CONF, encode_conf_state(ConfState((1, 2), (4,), ((4, b"ctx"),))))), commit=9),
    Message(MT.APP_RESP, to=1, frm=2, term=5, index=7, reject=True, reject_hint=6, log_term=3),
    Message(MT.VOTE, to=1, frm=2, term=6, log_term=5, index=12),
    Message(MT.VOTE_RESP, to=1, frm=2, term=6),
    Message(MT.PRE_VOTE, to=1, frm=2, term=7, log_term=5, index=12, context=b"transfer"),
    Message(MT.PRE_VOTE_RESP, to=1, frm=2, term=0, reject=True),
    Message(MT.SNAP, to=1, frm=2, term=5,
            snapshot=Snapshot(SnapshotMeta(100, 4, ConfState((1, 2, 3))), b"state")),
    Message(MT.SNAP, to=1, frm=2, term=5,
            snapshot=Snapshot(SnapshotMeta(100, 4, ConfState((1, 2, 3), (5,), ((5, b"addr"),))), b"state")),
    Message(MT.HEARTBEAT, to=1, frm=2, term=5, commit=9, context=(7).to_bytes(8, "big")),
    Message(MT.HEARTBEAT_RESP, to=1, frm=2, term=5, context=(7).to_bytes(8, "big")),
    Message(MT.READ_INDEX, to=1, frm=2, context=(7).to_bytes(8, "big")),
    Message(MT.READ_INDEX_RESP, to=1, frm=2, term=5, index=9, context=(7).to_bytes(8, "big")),
    Message(MT.TRANSFER_LEADER, to=1, frm=2, index=3),
    Message(MT.TIMEOUT_NOW, to=1, frm=2, term=5),
    Message(MT.APP, to=1, frm=2, term=BIG - 1, log_term=BIG - 1, index=BIG - 2,
            entries=(Entry(BIG - 1, BIG - 1),), commit=BIG - 1),
]


@pytest.mark.parametrize("m", HONEST, ids=lambda m: m.type.name)
def test_what_an_honest_peer_sends_comes_back_equal(m: Message) -> None:
    assert parse(encode_raft(m)) == RaftFrame(m)


# ---- who sent it ------------------------------------------------------------------


def test_the_sender_is_the_connection_not_the_body() -> None:
    m = Message(MT.HEARTBEAT, to=1, frm=3, term=5)
    refused(encode_raft(m), "claims to be from 3", sender=2)
    assert parse(encode_raft(m), sender=3).message == m


def test_a_message_for_another_node_is_refused() -> None:
    refused(encode_raft(Message(MT.HEARTBEAT, to=3, frm=2, term=5)), "is for 3")


def test_status_request_and_answer_must_name_their_connection() -> None:
    assert parse(encode_peer(peer_codec.STATUS_REQ, [2, 7])) == StatusAsk(7)
    refused(encode_peer(peer_codec.STATUS_REQ, [3, 7]), "claims to be from 3")
    status = {"id": 2, "role": "leader", "term": 5, "reachable": True, "http_port": None}
    assert parse(encode_peer(peer_codec.STATUS_RESP, [7, status])) == StatusAnswer(7, status)
    refused(encode_peer(peer_codec.STATUS_RESP, [7, {**status, "id": 3}]), "claims to be node 3")
    refused(encode_peer(peer_codec.STATUS_RESP, [7, {**status, "id": True}]), "claims to be node")
    refused(encode_peer(peer_codec.STATUS_RESP, [7, {**status, "nested": {"a": 1}}]), "scalar")
    refused(encode_peer(peer_codec.STATUS_RESP, [7, {**status, "role": "x" * 5000}]), "scalar")
    refused(encode_peer(peer_codec.STATUS_RESP, [7, {f"k{i}": 1 for i in range(40)} | {"id": 2}]), "at most")


# ---- message types -------------------------------------------------------------------


@pytest.mark.parametrize("t", [MT.HUP, MT.BEAT, MT.CHECK_QUORUM, MT.UNREACHABLE, MT.SNAP_STATUS])
def test_local_message_types_never_come_from_a_peer(t: MT) -> None:
    refused(encode_raft(Message(t, to=1, frm=2, term=5)), "local message type")


@pytest.mark.parametrize("t", [-1, 5, 24, 99, (1 << 64) - 1, "11", 11.0, True, None])
def test_unknown_message_types_are_refused(t: Any) -> None:
    w = wire(Message(MT.HEARTBEAT, to=1, frm=2, term=5))
    w[0] = t
    refused(raft_payload(w), "message type")


@pytest.mark.parametrize("t", [MT.PROP, MT.READ_INDEX, MT.TRANSFER_LEADER])
def test_forwarded_types_carry_no_term(t: MT) -> None:
    """A PROP with term 10**6 would otherwise move the receiver's term."""
    refused(encode_raft(Message(t, to=1, frm=2, term=10**6)), "without a term")


@pytest.mark.parametrize("t", [MT.APP, MT.VOTE, MT.PRE_VOTE, MT.SNAP, MT.HEARTBEAT, MT.TIMEOUT_NOW])
def test_leader_and_candidate_messages_carry_a_term(t: MT) -> None:
    """Term 0 is the core's 'local message': it would skip every term check."""
    snap = Snapshot(SnapshotMeta(5, 1)) if t == MT.SNAP else None
    refused(encode_raft(Message(t, to=1, frm=2, term=0, snapshot=snap)), "must carry a term")


# ---- integer fields: exact type and int64 range --------------------------------------

INT_FIELDS = {1: "to", 2: "frm", 3: "term", 4: "log_term", 5: "index", 7: "commit", 9: "reject_hint"}


@pytest.mark.parametrize("pos", list(INT_FIELDS), ids=lambda p: INT_FIELDS[p])
@pytest.mark.parametrize("bad", [BIG, (1 << 64) - 1, -1, 1.5, "5", True, None, b"\x05"])
def test_every_int_field_must_be_an_int64(pos: int, bad: Any) -> None:
    w = wire(Message(MT.APP_RESP, to=1, frm=2, term=5))
    w[pos] = bad
    refused(raft_payload(w))


def test_the_reported_forged_terms_are_refused() -> None:
    for term in (BIG, (1 << 64) - 1):
        refused(encode_peer(peer_codec.RAFT, [int(MT.HEARTBEAT), 1, 2, term, 0, 0, [], 0, False, 0, None, b""]),
                "outside 0..2\\*\\*63-1")
    assert parse(encode_raft(Message(MT.HEARTBEAT, to=1, frm=2, term=10**6))).message.term == 10**6


def test_reject_must_be_a_bool_and_context_bytes() -> None:
    w = wire(Message(MT.APP_RESP, to=1, frm=2, term=5))
    w[8] = 1
    refused(raft_payload(w), "reject must be a bool")
    w = wire(Message(MT.HEARTBEAT, to=1, frm=2, term=5))
    w[11] = "ctx"
    refused(raft_payload(w), "context must be bytes")
    refused(encode_raft(Message(MT.HEARTBEAT, to=1, frm=2, term=5, context=b"c" * 65)), "context of 65 bytes")


@pytest.mark.parametrize("shape", [[], [1, 2, 3], "raft", {"type": 18}, [None] * 13])
def test_a_message_is_a_list_of_twelve_fields(shape: Any) -> None:
    refused(raft_payload(shape), "12 fields")


# ---- entries ------------------------------------------------------------------------


def app(*entries: Any, index: int = 10, log_term: int = 4, term: int = 5) -> bytes:
    return raft_payload([int(MT.APP), 1, 2, term, log_term, index, list(entries), 9, False, 0, None, b""])


@pytest.mark.parametrize("entry, match", [
    ([5, 11, 0], "an entry is"),
    ([5, 11, 0, b"", b""], "an entry is"),
    ("entry", "an entry is"),
    ([BIG, 11, 0, b""], "entry.term"),
    ([5, -1, 0, b""], "entry.index"),
    ([5, 11, 2, b""], "entry type"),
    ([5, 11, False, b""], "entry type"),
    ([5, 11, 0, "text"], "entry.data must be bytes"),
])
def test_entry_fields_are_checked(entry: Any, match: str) -> None:
    refused(app(entry), match)


def test_entries_must_be_a_list() -> None:
    refused(raft_payload([int(MT.APP), 1, 2, 5, 4, 10, {"a": 1}, 9, False, 0, None, b""]), "entries must be a list")


def test_append_entries_follow_the_previous_entry_in_order() -> None:
    refused(app([5, 12, 0, b""]), "does not follow")
    refused(app([5, 11, 0, b""], [5, 11, 0, b""]), "does not follow")
    refused(app([3, 11, 0, b""]), "out of order")  # below the previous entry's term
    refused(app([6, 11, 0, b""]), "out of order")  # above the leader's term
    refused(app(log_term=6), "log_term 6 is above")
    parse(app([4, 11, 0, b""], [5, 12, 0, b""]))


def test_forwarded_proposals_are_bare_normal_entries() -> None:
    prop = Message(MT.PROP, to=1, frm=2, entries=(Entry(7, 0, EntryType.NORMAL, b"x"),))
    refused(encode_raft(prop), "forwarded proposal")
    prop = Message(MT.PROP, to=1, frm=2, entries=(Entry(0, 0, EntryType.CONF, b"x"),))
    refused(encode_raft(prop), "forwarded proposal")


def test_entries_only_where_they_belong_and_within_the_count_limit() -> None:
    refused(encode_raft(Message(MT.HEARTBEAT, to=1, frm=2, term=5, entries=(Entry(5, 1),))), "carries no entries")
    many = tuple(Entry(0, 0, EntryType.NORMAL, b"x") for _ in range(11))
    refused(encode_raft(Message(MT.PROP, to=1, frm=2, entries=many)), "exceed the limit of 10",
            limits=PeerLimits(max_entries=10))
    assert PeerLimits.for_batches_of(1 << 20).max_entries > 1 << 20


# ---- snapshots ----------------------------------------------------------------------


def snap_payload(snap: Any, term: int = 5, t: MT = MT.SNAP) -> bytes:
    return raft_payload([int(t), 1, 2, term, 0, 0, [], 0, False, 0, snap, b""])


@pytest.mark.parametrize("snap, match", [
    ([[100, 4, [1, 2, 3]]], "snapshot must be"),
    ([[100, 4, [1, 2, 3]], "data"], "snapshot.data must be bytes"),
    ([[100, 4], b""], "snapshot meta is"),
    ([[BIG, 4, [1]], b""], "snapshot.index"),
    ([[100, -4, [1]], b""], "snapshot.term"),
    ([[100, 4, [1, 1]], b""], "distinct"),
    ([[100, 4, [0]], b""], "distinct"),
    ([[100, 4, [BIG]], b""], "voter"),
    ([[100, 4, list(range(1, 2000))], b""], "at most"),
    ([[100, 4, "123"], b""], "voters must be a list"),
    ([[100, 6, [1]], b""], "does not fit term 5"),
    ([[0, 4, [1]], b""], "does not fit"),
    (None, "only with SNAP"),
])
def test_snapshot_fields_are_checked(snap: Any, match: str) -> None:
    refused(snap_payload(snap), match)


def test_a_snapshot_only_comes_with_snap() -> None:
    refused(snap_payload([[100, 4, [1]], b""], t=MT.HEARTBEAT), "only with SNAP")


# ---- the other kinds ------------------------------------------------------------------


def test_touches_and_their_ack() -> None:
    assert parse(encode_peer(peer_codec.TOUCH, [3, ["a" * 32, "b"]])) == Touches(3, ("a" * 32, "b"))
    assert parse(encode_peer(peer_codec.TOUCH_ACK, 3)) == TouchesAck(3)
    for body in ([3], [3, "ab"], [BIG, []], [-1, []], ["3", []], [3, [b"raw"]], [3, ["x" * 300]], None):
        refused(encode_peer(peer_codec.TOUCH, body))
    for body in (BIG, -1, "3", True, [3], None):
        refused(encode_peer(peer_codec.TOUCH_ACK, body))


@pytest.mark.parametrize("payload", [
    b"", b"\xc1", b"\x92", msgpack.packb([1, 2, 3]), msgpack.packb({"raft": []}),
    msgpack.packb(["nope", 1]), msgpack.packb([7, 1]), msgpack.packb("raft"),
    msgpack.packb(["raft", []]) + b"trailing", msgpack.ExtType(1, b"x") and msgpack.packb([msgpack.ExtType(1, b"x"), 1]),
])
def test_frames_that_are_not_a_peer_frame(payload: bytes) -> None:
    refused(payload)


# ---- fuzz: nothing but a valid frame or BadRequest ---------------------------------------

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1),
    st.floats(allow_nan=True), st.text(max_size=20), st.binary(max_size=20),
)
_values = st.recursive(
    _scalars, lambda inner: st.one_of(st.lists(inner, max_size=14), st.dictionaries(_scalars, inner, max_size=4)),
    max_leaves=40,
)
_small_ints = st.one_of(st.integers(min_value=0, max_value=25), st.sampled_from([BIG - 1, BIG, (1 << 64) - 1, -1]))
_mostly = st.sampled_from  # mostly-valid choices, so a good share of raft frames pass
_raft_like = st.builds(
    lambda t, to, frm, nums, ents, rej, snap, ctx: [t, to, frm, *nums[:3], ents, nums[3], rej, nums[4], snap, ctx],
    st.one_of(st.integers(min_value=10, max_value=23), _small_ints),
    _mostly([1, 1, 1, 2, 0, BIG]), _mostly([2, 2, 2, 3]),
    st.lists(st.one_of(st.integers(min_value=0, max_value=3), _small_ints), min_size=5, max_size=5),
    st.one_of(st.just([]), st.lists(st.lists(st.one_of(_small_ints, st.binary(max_size=4)), min_size=3, max_size=5),
                                    max_size=3)),
    st.one_of(st.booleans(), _small_ints),
    st.one_of(st.none(), _values, st.tuples(st.tuples(_small_ints, _small_ints, st.lists(_small_ints, max_size=3)),
                                            st.binary(max_size=8)).map(lambda s: [list(s[0]), s[1]])),
    st.one_of(st.binary(max_size=70), _scalars),
)


def _mutate(m: Message, pos: int, value: Any, keep: bool) -> bytes:
    w = wire(m)
    if not keep:
        w[pos] = value
    return msgpack.packb(["raft", w], use_bin_type=True)


_mutated = st.builds(_mutate, st.sampled_from(HONEST), st.integers(0, 11), st.one_of(_small_ints, _values),
                     st.booleans())
_frames = st.one_of(
    _mutated,
    st.binary(max_size=64),
    _values.map(lambda v: msgpack.packb(v, use_bin_type=True)),
    st.tuples(st.sampled_from(["raft", "touch", "touched", "status?", "status!"]), _values)
      .map(lambda kv: msgpack.packb(list(kv), use_bin_type=True)),
    _raft_like.map(lambda w: msgpack.packb(["raft", w], use_bin_type=True)),
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_frames)
def test_any_bytes_are_either_a_valid_frame_or_bad_request(payload: bytes) -> None:
    """Also run with the codec catching only MalformedMessage: nothing else escaped."""
    try:
        frame = parse(payload, sender=2, receiver=1)
    except BadRequest:
        return
    if isinstance(frame, RaftFrame):
        m = frame.message
        assert m.frm == 2 and m.to == 1
        assert parse(encode_raft(m), sender=2, receiver=1) == frame  # what passed re-encodes as valid
        nums = [m.term, m.log_term, m.index, m.commit, m.reject_hint] + [x for e in m.entries for x in (e.term, e.index)]
        assert all(0 <= n < BIG for n in nums)
