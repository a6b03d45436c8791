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
    voters: tuple[int, ...] = ()


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


# ---- wire forms (plain lists of ints/bytes; msgpack-able) -------------------


def entry_to_wire(e: Entry) -> list[Any]:
    return [e.term, e.index, int(e.type), e.data]


def entry_from_wire(w: list[Any]) -> Entry:
    term, index, etype, data = w
    return Entry(int(term), int(index), EntryType(etype), bytes(data))


def snapshot_meta_to_wire(m: SnapshotMeta) -> list[Any]:
    return [m.index, m.term, list(m.conf.voters)]


def snapshot_meta_from_wire(w: list[Any]) -> SnapshotMeta:
    index, term, voters = w
    return SnapshotMeta(int(index), int(term), ConfState(tuple(int(v) for v in voters)))


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
    """Rebuild a message; raises ValueError/TypeError on a malformed one."""
    (mtype, to, frm, term, log_term, index, entries, commit, reject,
     reject_hint, snap, context) = w
    snapshot = None
    if snap is not None:
        snapshot = Snapshot(snapshot_meta_from_wire(snap[0]), bytes(snap[1]))
    return Message(
        MessageType(mtype), int(to), int(frm), int(term), int(log_term), int(index),
        tuple(entry_from_wire(e) for e in entries), int(commit), bool(reject),
        int(reject_hint), snapshot, bytes(context),
    )


# ---- configuration entries --------------------------------------------------


def encode_conf_state(conf: ConfState) -> bytes:
    """The data of an ``EntryType.CONF`` entry: msgpack of the sorted voter ids."""
    return msgpack.packb(sorted(conf.voters))


def decode_conf_state(data: bytes) -> ConfState:
    return ConfState(tuple(int(v) for v in msgpack.unpackb(data)))
