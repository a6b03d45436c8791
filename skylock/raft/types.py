"""The values the Raft core exchanges with its application: entries, hard state,
snapshots and messages. Plain frozen data, so they can be shared freely between
threads and compared in tests; ``*_to_wire``/``*_from_wire`` turn them into plain
lists for msgpack (never pickle)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import msgpack


class EntryType(IntEnum):
    NORMAL = 0
    #: data holds a configuration (see ``ConfState``); the configuration lives in the log.
    CONF = 1


class MessageType(IntEnum):
    # local only: never cross the network
    HUP = 0  # start an election
    BEAT = 1  # leader: send heartbeats
    CHECK_QUORUM = 2
    UNREACHABLE = 3
    SNAP_STATUS = 4
    # between nodes
    PROP = 10
    APP = 11
    APP_RESP = 12
    VOTE = 13
    VOTE_RESP = 14
    PRE_VOTE = 15
    PRE_VOTE_RESP = 16
    SNAP = 17
    HEARTBEAT = 18
    HEARTBEAT_RESP = 19
    READ_INDEX = 20
    READ_INDEX_RESP = 21
    TRANSFER_LEADER = 22
    TIMEOUT_NOW = 23


class Role(IntEnum):
    FOLLOWER = 0
    PRE_CANDIDATE = 1
    CANDIDATE = 2
    LEADER = 3


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    type: EntryType = EntryType.NORMAL
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HardState:
    term: int = 0
    vote: int = 0  # 0 = no vote
    commit: int = 0


@dataclass(frozen=True, slots=True)
class ConfState:
    """A configuration: voters, learners (receive the log, never vote nor count toward a
    quorum) and an opaque application context per member, as ``(id, bytes)`` pairs sorted
    by id (see ``membership``)."""

    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()
    contexts: tuple[tuple[int, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    index: int = 0
    term: int = 0
    conf: ConfState = field(default_factory=ConfState)


@dataclass(frozen=True, slots=True)
class Snapshot:
    meta: SnapshotMeta = field(default_factory=SnapshotMeta)
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class Message:
    type: MessageType
    to: int = 0
    frm: int = 0
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    snapshot: Snapshot | None = None
    context: bytes = b""


# ---- validation of what arrives from the network ---------------------------

#: Terms, indexes and ids are int64 on the wire and in the WAL: every one must be
#: ``0 <= x < INT64_LIMIT``; a bigger one (up to msgpack's 2**64-1) is refused at the edge.
INT64_LIMIT = 1 << 63
#: a cluster has a handful of voters; this only bounds what a frame may make us allocate
MAX_VOTERS = 1024
#: ReadIndex and heartbeat contexts are 8 bytes, a transfer campaign's is b"transfer", a commit
#: notice's b"commit"
MAX_CONTEXT = 64
#: a member's context in a configuration (its addresses): small
MAX_MEMBER_CONTEXT = 4096

#: The types a peer may send. The others (HUP, BEAT, ...) are the node's own inputs:
#: from the network they would let anyone start elections or fake reports.
NETWORK_TYPES = frozenset({
    MessageType.PROP, MessageType.APP, MessageType.APP_RESP, MessageType.VOTE,
    MessageType.VOTE_RESP, MessageType.PRE_VOTE, MessageType.PRE_VOTE_RESP, MessageType.SNAP,
    MessageType.HEARTBEAT, MessageType.HEARTBEAT_RESP, MessageType.READ_INDEX,
    MessageType.READ_INDEX_RESP, MessageType.TRANSFER_LEADER, MessageType.TIMEOUT_NOW,
})
#: A follower forwards these to its leader without a term (the core reads term 0 as "no
#: term"); with a term they could move the receiver's term, so they must carry none.
FORWARDED_TYPES = frozenset({MessageType.PROP, MessageType.READ_INDEX, MessageType.TRANSFER_LEADER})
#: Sent only by a leader or a candidate, which always has a term >= 1: term 0 would make
#: the core treat them as local messages that skip every term check.
TERMED_TYPES = frozenset({
    MessageType.APP, MessageType.VOTE, MessageType.PRE_VOTE, MessageType.SNAP,
    MessageType.HEARTBEAT, MessageType.TIMEOUT_NOW,
})
#: wire number -> enum member: a dict lookup instead of a call to the enum, on every message
_MESSAGE_TYPE_OF = {int(t): t for t in MessageType}
_ENTRY_TYPE_OF = {int(t): t for t in EntryType}
_MESSAGE_FIELDS = 12
_NUMBER_FIELDS = ("to", "frm", "term", "log_term", "index", "commit", "reject_hint")


class MalformedMessage(ValueError):
    """A wire message (or entry, or snapshot meta) that is not well formed or not acceptable."""


def _is_int(v: Any) -> bool:
    return type(v) is int  # not bool, not a subclass that could misbehave


def in_int64_range(v: int) -> bool:
    """True for a term/index/id the wire and the WAL can carry: ``0 <= v < 2**63``."""
    return 0 <= v < INT64_LIMIT


def _u63(name: str, v: Any) -> int:
    if not _is_int(v):
        raise MalformedMessage(f"{name} must be an int, got {type(v).__name__}")
    if not in_int64_range(v):
        raise MalformedMessage(f"{name} {v} is outside 0..2**63-1")
    return v


def _bytes(name: str, v: Any) -> bytes:
    if not isinstance(v, bytes):
        raise MalformedMessage(f"{name} must be bytes, got {type(v).__name__}")
    return v


def _bool(name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise MalformedMessage(f"{name} must be a bool, got {type(v).__name__}")
    return v


def _message_type(v: Any) -> MessageType:
    found = _MESSAGE_TYPE_OF.get(v) if _is_int(v) else None
    if found is None:
        raise MalformedMessage(f"unknown message type {v!r}")
    return found


def numbers_in_range(m: Message) -> bool:
    """True when every term, index and id of ``m`` fits int64 (what the WAL may persist)."""
    if not _all_u63((m.to, m.frm, m.term, m.log_term, m.index, m.commit, m.reject_hint)):
        return False
    for e in m.entries:
        if not (0 <= e.term < INT64_LIMIT and 0 <= e.index < INT64_LIMIT):
            return False
    if m.snapshot is not None:
        conf = m.snapshot.meta.conf
        return all(in_int64_range(n) for n in (m.snapshot.meta.index, m.snapshot.meta.term,
                                                *conf.voters, *conf.learners))
    return True


def _all_u63(values: tuple[Any, ...]) -> bool:
    """True when every value is an ``int`` (not a bool) in 0..2**63-1: one pass over a
    message's numbers (the per-field checks then name the culprit)."""
    for v in values:
        if type(v) is not int or not 0 <= v < INT64_LIMIT:
            return False
    return True


def check_wire_message(m: Message, *, max_entries: int) -> None:
    """The rules a message from a peer must meet beyond its field types; raises
    ``MalformedMessage``. They are what an honest peer's core produces, so a frame
    that breaks one is forged or corrupt, and stepping it could move our term, our
    leader or our log."""
    t = m.type
    if t not in NETWORK_TYPES:
        raise MalformedMessage(f"{t.name} is a local message type, not accepted from a peer")
    if t in FORWARDED_TYPES and m.term != 0:
        raise MalformedMessage(f"{t.name} is forwarded without a term, got term {m.term}")
    if t in TERMED_TYPES and m.term == 0:
        raise MalformedMessage(f"{t.name} must carry a term")
    if len(m.context) > MAX_CONTEXT:
        raise MalformedMessage(f"context of {len(m.context)} bytes exceeds {MAX_CONTEXT}")
    if (m.snapshot is not None) != (t == MessageType.SNAP):
        raise MalformedMessage("a snapshot comes with SNAP and only with SNAP")
    if m.entries and t not in (MessageType.APP, MessageType.PROP):
        raise MalformedMessage(f"{t.name} carries no entries")
    if len(m.entries) > max_entries:
        raise MalformedMessage(f"{len(m.entries)} entries exceed the limit of {max_entries}")
    if t == MessageType.PROP:
        _check_proposed(m.entries)
    elif t == MessageType.APP:
        _check_appended(m)
        _check_conf_entries(m.entries)
    elif t in (MessageType.VOTE, MessageType.PRE_VOTE) and m.log_term > m.term:
        raise MalformedMessage(f"a candidate's last log term {m.log_term} is above its term {m.term}")
    elif m.snapshot is not None:
        meta = m.snapshot.meta
        if meta.index == 0 or meta.term == 0 or meta.term > m.term:
            raise MalformedMessage(f"snapshot ({meta.index}, {meta.term}) does not fit term {m.term}")


def _check_proposed(entries: tuple[Entry, ...]) -> None:
    """Forwarded proposals are bare data: the leader gives them their term and index."""
    for e in entries:
        if e.term or e.index or e.type != EntryType.NORMAL:
            raise MalformedMessage("a forwarded proposal is a NORMAL entry without term or index")


def _check_appended(m: Message) -> None:
    """AppendEntries: entries follow (index, log_term) one by one, terms never exceed the
    leader's term and never go down."""
    if m.log_term > m.term:
        raise MalformedMessage(f"log_term {m.log_term} is above the message term {m.term}")
    prev_term = m.log_term
    for i, e in enumerate(m.entries, 1):
        if e.index != m.index + i:
            raise MalformedMessage(f"entry index {e.index} does not follow {m.index + i - 1}")
        if not prev_term <= e.term <= m.term:
            raise MalformedMessage(f"entry term {e.term} is out of order (after {prev_term}, limit {m.term})")
        prev_term = e.term


def _check_conf_entries(entries: tuple[Entry, ...]) -> None:
    """A configuration entry must decode: the core reads it as soon as it is appended."""
    for e in entries:
        if e.type == EntryType.CONF:
            decode_conf_state(e.data)


# ---- wire forms (plain lists of ints/bytes; msgpack-able) -------------------


def entry_to_wire(e: Entry) -> list[Any]:
    return [e.term, e.index, int(e.type), e.data]


def entry_from_wire(w: list[Any]) -> Entry:
    """Rebuild an entry; raises ``MalformedMessage`` unless it is [term, index, type, data]."""
    if not isinstance(w, (list, tuple)) or len(w) != 4:
        raise MalformedMessage("an entry is [term, index, type, data]")
    term, index, etype, data = w
    entry_type = _ENTRY_TYPE_OF.get(etype) if _is_int(etype) else None
    if entry_type is None:
        raise MalformedMessage(f"unknown entry type {etype!r}")
    if not _all_u63((term, index)):
        _u63("entry.term", term), _u63("entry.index", index)  # raises, naming the field
    return Entry(term, index, entry_type, _bytes("entry.data", data))


def snapshot_meta_to_wire(m: SnapshotMeta) -> list[Any]:
    """[index, term, voters], plus [learners, contexts] when the configuration has either
    (so metadata without them keeps its original three-field form)."""
    c = m.conf
    if not c.learners and not c.contexts:
        return [m.index, m.term, list(c.voters)]
    return [m.index, m.term, list(c.voters), list(c.learners), [[i, ctx] for i, ctx in c.contexts]]


def _ids(name: str, v: Any) -> tuple[int, ...]:
    if not isinstance(v, (list, tuple)) or len(v) > MAX_VOTERS:
        raise MalformedMessage(f"{name} must be a list of at most {MAX_VOTERS} ids")
    ids = tuple(_u63(name, x) for x in v)
    if len(set(ids)) != len(ids) or 0 in ids:
        raise MalformedMessage(f"{name} must be distinct non-zero ids")
    return ids


def _contexts(v: Any, member_ids: set[int]) -> tuple[tuple[int, bytes], ...]:
    if not isinstance(v, (list, tuple)) or len(v) > MAX_VOTERS:
        raise MalformedMessage(f"contexts must be a list of at most {MAX_VOTERS} pairs")
    out = []
    for pair in v:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise MalformedMessage("a member context is [id, bytes]")
        nid, ctx = _u63("context id", pair[0]), _bytes("context", pair[1])
        if nid not in member_ids or len(ctx) > MAX_MEMBER_CONTEXT:
            raise MalformedMessage(f"context of node {nid}: not a member, or over {MAX_MEMBER_CONTEXT} bytes")
        out.append((nid, ctx))
    if len({i for i, _ in out}) != len(out):
        raise MalformedMessage("one context per member")
    return tuple(sorted(out))


def conf_from_parts(voters: Any, learners: Any = (), contexts: Any = ()) -> ConfState:
    """A configuration from its wire parts; raises ``MalformedMessage``."""
    v, lr = _ids("voters", voters), _ids("learners", learners)
    if set(v) & set(lr):
        raise MalformedMessage("a member is either a voter or a learner")
    return ConfState(tuple(sorted(v)), tuple(sorted(lr)), _contexts(contexts, set(v) | set(lr)))


def snapshot_meta_from_wire(w: list[Any]) -> SnapshotMeta:
    """Rebuild snapshot metadata; raises ``MalformedMessage`` unless it is
    [index, term, voters] or [index, term, voters, learners, contexts]."""
    if not isinstance(w, (list, tuple)) or len(w) not in (3, 5):
        raise MalformedMessage("snapshot meta is [index, term, voters(, learners, contexts)]")
    conf = conf_from_parts(*w[2:])
    return SnapshotMeta(_u63("snapshot.index", w[0]), _u63("snapshot.term", w[1]), conf)


def message_to_wire(m: Message) -> list[Any]:
    snap = None
    if m.snapshot is not None:
        snap = [snapshot_meta_to_wire(m.snapshot.meta), m.snapshot.data]
    return [
        int(m.type), m.to, m.frm, m.term, m.log_term, m.index,
        [entry_to_wire(e) for e in m.entries],
        m.commit, m.reject, m.reject_hint, snap, m.context,
    ]


def message_from_wire(w: list[Any]) -> Message:
    """Rebuild a message; raises ``MalformedMessage`` (a ValueError) on a malformed one.

    Every field is checked for its exact type and range before a ``Message`` exists:
    see ``check_wire_message`` for the rules a peer's message must also meet.
    """
    if not isinstance(w, (list, tuple)) or len(w) != _MESSAGE_FIELDS:
        raise MalformedMessage(f"a message is a list of {_MESSAGE_FIELDS} fields")
    (mtype, to, frm, term, log_term, index, entries, commit, reject,
     reject_hint, snap, context) = w
    snapshot = None
    if snap is not None:
        if not isinstance(snap, (list, tuple)) or len(snap) != 2:
            raise MalformedMessage("snapshot must be [meta, data]")
        snapshot = Snapshot(snapshot_meta_from_wire(snap[0]), _bytes("snapshot.data", snap[1]))
    if not isinstance(entries, (list, tuple)):
        raise MalformedMessage(f"entries must be a list, got {type(entries).__name__}")
    numbers = (to, frm, term, log_term, index, commit, reject_hint)
    if not _all_u63(numbers):
        for name, value in zip(_NUMBER_FIELDS, numbers):
            _u63(name, value)  # raises, naming the first bad field
    return Message(
        _message_type(mtype), to, frm, term, log_term, index,
        tuple([entry_from_wire(e) for e in entries]), commit, _bool("reject", reject),
        reject_hint, snapshot, _bytes("context", context),
    )


# ---- configuration entries --------------------------------------------------


def encode_conf_state(conf: ConfState) -> bytes:
    """The data of an ``EntryType.CONF`` entry: msgpack of the sorted voter ids, or of
    [voters, learners, [[id, context], ...]] when there are learners or contexts."""
    if not conf.learners and not conf.contexts:
        return msgpack.packb(sorted(conf.voters))
    return msgpack.packb([sorted(conf.voters), sorted(conf.learners),
                          [[i, ctx] for i, ctx in conf.contexts]], use_bin_type=True)


def decode_conf_state(data: bytes) -> ConfState:
    """Raises ``MalformedMessage`` for data that is not an encoded configuration."""
    try:
        w = msgpack.unpackb(data, raw=False, max_bin_len=len(data), max_str_len=len(data),
                            max_array_len=len(data), max_map_len=len(data))
    except Exception as exc:  # msgpack raises many types
        raise MalformedMessage(f"configuration entry is not msgpack: {exc}") from None
    if isinstance(w, list) and len(w) == 3 and all(isinstance(x, list) for x in w):
        return conf_from_parts(*w)
    return conf_from_parts(w)
