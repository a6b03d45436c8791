"""Recovery from damage: a torn tail of the last segment is truncated; anything else
refuses to start with an error naming the file and the offset."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from skylock.raft.types import HardState, Snapshot, SnapshotMeta
from skylock.storage import WAL, CorruptLogError, Recovered
from skylock.storage.records import HEADER, scan
from tests.storage.conftest import ents


def write_log(wal_dir: Path, n: int = 20, segment_size: int = 64 << 20) -> list[Path]:
    """n single-entry saves; returns the segment paths."""
    with WAL.open(wal_dir, segment_size=segment_size)[0] as wal:
        for i in range(1, n + 1):
            wal.save(HardState(1, 1, i - 1), ents(i, i))
        return list(wal.segments)


def record_offsets(path: Path) -> list[int]:
    return [off for off, _, _ in scan(path.read_bytes()).records]


def records_end(path: Path) -> int:
    """Where a segment's records end (the zeros written ahead of them follow)."""
    return scan(path.read_bytes()).valid_end


def flip(path: Path, offset: int) -> None:
    buf = bytearray(path.read_bytes())
    buf[offset] ^= 0x5A
    path.write_bytes(bytes(buf))


def open_entries(wal_dir: Path) -> list[int]:
    wal, rec = WAL.open(wal_dir)
    wal.close()
    return [e.index for e in rec.entries]


@pytest.mark.parametrize("cut", [1, HEADER.size - 1, HEADER.size, HEADER.size + 3])
def test_torn_last_record_is_truncated_with_a_warning(wal_dir, caplog, cut):
    seg = write_log(wal_dir)[-1]
    last = record_offsets(seg)[-1]
    with open(seg, "r+b") as f:
        f.truncate(last + cut)
    with caplog.at_level(logging.WARNING, logger="skylock.storage"):
        assert open_entries(wal_dir) == list(range(1, 20))
    assert f"{seg}" in caplog.text and f"offset {last}" in caplog.text
    assert seg.stat().st_size == last


def test_zeros_after_the_last_record_are_room_for_appends_not_damage(wal_dir, caplog):
    seg = write_log(wal_dir)[-1]
    end = records_end(seg)
    assert seg.stat().st_size > end and not any(seg.read_bytes()[end:])  # written ahead by the writer
    with caplog.at_level(logging.WARNING, logger="skylock.storage"):
        wal, rec = WAL.open(wal_dir)
    assert [e.index for e in rec.entries] == list(range(1, 21)) and caplog.text == ""
    wal.save(HardState(1, 1, 20), ents(21, 21))  # lands right after the records, in the zeros
    wal.close()
    assert record_offsets(seg)[-1] == end and open_entries(wal_dir) == list(range(1, 22))


def test_garbage_after_the_last_record_is_truncated(wal_dir):
    seg = write_log(wal_dir)[-1]
    end = records_end(seg)
    with open(seg, "r+b") as f:
        f.seek(end)
        f.write(b"\x07" * 300)
    assert open_entries(wal_dir) == list(range(1, 21))
    assert seg.stat().st_size == end


@pytest.mark.parametrize("where", ["length", "crc", "type", "payload"])
def test_flipped_byte_in_the_last_record_is_a_torn_tail(wal_dir, where):
    seg = write_log(wal_dir)[-1]
    last = record_offsets(seg)[-1]
    flip(seg, last + {"length": 0, "crc": 5, "type": 8, "payload": HEADER.size + 4}[where])
    assert open_entries(wal_dir) == list(range(1, 20))


@pytest.mark.parametrize("where", ["length", "crc", "payload"])
def test_flipped_byte_in_the_middle_refuses_naming_file_and_offset(wal_dir, where):
    seg = write_log(wal_dir)[-1]
    bad = record_offsets(seg)[7]
    flip(seg, bad + {"length": 1, "crc": 6, "payload": HEADER.size + 2}[where])
    with pytest.raises(CorruptLogError) as err:
        WAL.open(wal_dir)
    assert str(seg) in str(err.value) and f"offset {bad}" in str(err.value)
    assert err.value.path == seg and err.value.offset == bad


def test_damage_in_a_middle_segment_refuses(wal_dir):
    segs = write_log(wal_dir, n=40, segment_size=400)
    assert len(segs) >= 3
    mid = segs[1]
    offs = record_offsets(mid)
    flip(mid, offs[-1] + HEADER.size + 1)  # even its last record: only the last segment may be torn
    with pytest.raises(CorruptLogError) as err:
        WAL.open(wal_dir)
    assert str(mid) in str(err.value) and f"offset {offs[-1]}" in str(err.value)


def test_torn_middle_segment_refuses(wal_dir):
    segs = write_log(wal_dir, n=40, segment_size=400)
    with open(segs[1], "r+b") as f:
        f.truncate(records_end(segs[1]) - 3)
    with pytest.raises(CorruptLogError, match="not the last"):
        WAL.open(wal_dir)


def test_missing_middle_segment_refuses(wal_dir):
    segs = write_log(wal_dir, n=40, segment_size=400)
    segs[1].unlink()
    with pytest.raises(CorruptLogError) as err:
        WAL.open(wal_dir)
    assert "missing" in str(err.value) and str(segs[2]) in str(err.value)


def test_segment_whose_first_index_does_not_follow_refuses(wal_dir):
    segs = write_log(wal_dir, n=40, segment_size=400)
    seq, first = segs[2].name[:16], int(segs[2].name[17:33])
    segs[2].rename(segs[2].with_name(f"{seq}-{first + 5:016d}.wal"))
    with pytest.raises(CorruptLogError, match="starts at index"):
        WAL.open(wal_dir)


def test_recovery_after_truncation_appends_correctly(wal_dir):
    seg = write_log(wal_dir)[-1]
    with open(seg, "r+b") as f:
        f.truncate(records_end(seg) - 2)
    wal, rec = WAL.open(wal_dir)
    assert rec.entries[-1].index == 19
    wal.save(HardState(2, 0, 19), ents(20, 25, term=2))
    wal.close()
    wal, rec = WAL.open(wal_dir)
    wal.close()
    assert rec.entries == ents(1, 19) + ents(20, 25, term=2)
    assert rec.hard_state == HardState(2, 0, 19)


def test_check_snapshot_refuses_a_snapshot_the_store_lacks():
    rec = Recovered(snapshot_meta=SnapshotMeta(10, 2))
    rec.check_snapshot(Snapshot(SnapshotMeta(10, 2)))
    rec.check_snapshot(Snapshot(SnapshotMeta(12, 2)))  # newer in the store: crash between the two saves
    for have in (None, Snapshot(SnapshotMeta(8, 2)), Snapshot(SnapshotMeta(10, 3))):
        with pytest.raises(CorruptLogError, match="index 10 term 2"):
            rec.check_snapshot(have)
    Recovered().check_snapshot(None)


def test_record_with_valid_crc_but_malformed_payload_refuses(wal_dir):
    from skylock.storage.records import RecordType, frame

    seg = write_log(wal_dir)[-1]
    end = records_end(seg)
    with open(seg, "r+b") as f:
        f.seek(end)
        f.write(frame(RecordType.ENTRIES, b"\xc1"))  # 0xc1 is never valid msgpack
    with pytest.raises(CorruptLogError) as err:
        WAL.open(wal_dir)
    assert f"offset {end}" in str(err.value) and "malformed" in str(err.value)
