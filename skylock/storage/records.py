"""WAL record framing: ``length u32 | crc32 u32 | type u8 | payload``, little-endian.

The CRC covers the length, the type and every payload byte, so a torn or flipped
byte anywhere in a record is caught. Payloads are msgpack (never pickle).

One ``save()`` is one ENTRIES record carrying its entries *and* the hard state that
goes with them: a Ready batch is then all-or-nothing on disk, and a torn write can
only ever damage the single record at the tail.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import msgpack

from skylock.raft.types import (
    Entry,
    EntryType,
    HardState,
    SnapshotMeta,
    in_int64_range,
    snapshot_meta_from_wire,
    snapshot_meta_to_wire,
)

HEADER = struct.Struct("<IIB")  # length of payload, crc32, record type
_LEN_TYPE = struct.Struct("<IB")  # the header bytes the CRC covers besides the payload
MAX_PAYLOAD = 1 << 31


class RecordType(IntEnum):
    #: [hard_state or None, [[term, index, type, data], ...]] — one save() batch
    ENTRIES = 1
    #: [term, vote, commit] — written alone, and at the head of every segment
    HARD_STATE = 2
    #: snapshot_meta_to_wire(meta) — a durable snapshot exists at meta.index
    SNAPSHOT_META = 3


_TYPES = frozenset(int(t) for t in RecordType)


def crc_of(length: int, rtype: int, payload: bytes | memoryview) -> int:
    return zlib.crc32(payload, zlib.crc32(_LEN_TYPE.pack(length, rtype)))


def frame(rtype: RecordType, payload: bytes) -> bytes:
    n = len(payload)
    return HEADER.pack(n, crc_of(n, rtype, payload), rtype) + payload


def _hard_state_wire(hs: HardState) -> list[int]:
    """Refuse a hard state the log could not read back as int64 (ValueError): the transport
    drops such terms at the edge, this keeps one that slipped through off the disk."""
    wire = [hs.term, hs.vote, hs.commit]
    if not all(in_int64_range(n) for n in wire):
        raise ValueError(f"hard state {wire} is outside 0..2**63-1; not persisted")
    return wire


def encode_entries(hard_state: HardState | None, entries: Sequence[Entry]) -> bytes:
    hs = None if hard_state is None else _hard_state_wire(hard_state)
    wire = [hs, [(e.term, e.index, e.type, e.data) for e in entries]]  # IntEnum packs as int
    return frame(RecordType.ENTRIES, msgpack.packb(wire, use_bin_type=True))


def encode_hard_state(hs: HardState) -> bytes:
    return frame(RecordType.HARD_STATE, msgpack.packb(_hard_state_wire(hs)))


def encode_snapshot_meta(meta: SnapshotMeta) -> bytes:
    return frame(RecordType.SNAPSHOT_META, msgpack.packb(snapshot_meta_to_wire(meta)))


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one record says: any of the three may be present."""

    hard_state: HardState | None = None
    entries: tuple[Entry, ...] = ()
    snapshot_meta: SnapshotMeta | None = None


def _hard_state(w: Any) -> HardState:
    term, vote, commit = w
    return HardState(int(term), int(vote), int(commit))


def decode(rtype: int, payload: bytes | memoryview) -> Decoded:
    """Decode a CRC-checked payload; raises ValueError if it is not what its type promises."""
    try:
        w = msgpack.unpackb(payload, raw=False)
        if rtype == RecordType.ENTRIES:
            hs, ents = w
            entries = tuple(Entry(int(t), int(i), EntryType(k), bytes(d)) for t, i, k, d in ents)
            return Decoded(None if hs is None else _hard_state(hs), entries)
        if rtype == RecordType.HARD_STATE:
            return Decoded(hard_state=_hard_state(w))
        if rtype == RecordType.SNAPSHOT_META:
            return Decoded(snapshot_meta=snapshot_meta_from_wire(w))
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ValueError(f"malformed {RecordType(rtype).name} record: {exc}") from exc
    raise ValueError(f"unknown record type {rtype}")


@dataclass(slots=True)
class Scan:
    """The records of one segment's bytes, and where (and why) reading stopped early."""

    records: list[tuple[int, int, memoryview]]  # (offset, type, payload: a view into the scanned buffer)
    valid_end: int  # bytes up to here are whole, CRC-checked records
    problem: str = ""  # empty when the whole buffer parsed
    next_valid: int | None = None  # offset of a valid record beyond the damage, if any


def _valid_at(buf: bytes, off: int) -> bool:
    if off + HEADER.size > len(buf):
        return False
    length, crc, rtype = HEADER.unpack_from(buf, off)
    end = off + HEADER.size + length
    if rtype not in _TYPES or end > len(buf):
        return False
    return crc == crc_of(length, rtype, memoryview(buf)[off + HEADER.size:end])


def find_valid_after(buf: bytes, start: int, hint: int | None = None) -> int | None:
    """Offset of the first whole, CRC-valid record starting at or after ``start``.

    ``hint`` (where the damaged record claimed to end) is tried first: with an intact
    length field the next record is there. Otherwise every byte offset is tried, which
    is only ever a short walk: either good records follow soon, or this is a torn tail.
    """
    if hint is not None and hint >= start and _valid_at(buf, hint):
        return hint
    type_bytes = bytes(_TYPES)
    for off in range(start, len(buf) - HEADER.size + 1):
        if buf[off + 8] in type_bytes and _valid_at(buf, off):
            return off
    return None


def scan(buf: bytes) -> Scan:
    """Split ``buf`` into records; stop at the first short or CRC-failing one, or where
    nothing but zeros follows (the space a segment writer fills ahead of its records: no
    record starts with a zero header, whose type byte is never 0).

    Payloads are views into ``buf``, not copies: recovery then holds a segment's bytes once
    (plus the entries decoded from it), not twice."""
    records: list[tuple[int, int, memoryview]] = []
    off, n = 0, len(buf)
    mv = memoryview(buf)
    while off < n:
        if (off + 8 >= n or buf[off + 8] == 0) and buf.count(0, off) == n - off:
            return Scan(records, off)  # only zeros from here (a record's type byte, at 8, never is)
        if n - off < HEADER.size:
            return Scan(records, off, "short record header", find_valid_after(buf, off + 1))
        length, crc, rtype = HEADER.unpack_from(buf, off)
        end = off + HEADER.size + length
        if end > n:
            return Scan(records, off, f"short record ({length} byte payload, {n - off - HEADER.size} present)",
                        find_valid_after(buf, off + 1))
        payload = mv[off + HEADER.size:end]
        if rtype not in _TYPES or crc != crc_of(length, rtype, payload):
            return Scan(records, off, "bad CRC", find_valid_after(buf, off + 1, hint=end))
        records.append((off, rtype, payload))
        off = end
    return Scan(records, off)
