"""WAL behaviour: round trips, Raft's overwrite rule, hard state, rotation, release, reopen."""

from __future__ import annotations

from pathlib import Path

import pytest

from skylock.raft.types import ConfState, Entry, EntryType, HardState, SnapshotMeta
from skylock.storage import WAL, CorruptLogError
from tests.storage.conftest import ents


def reopen(path: Path, **kw):
    wal, rec = WAL.open(path, **kw)
    wal.close()
    return rec


def test_fresh_directory_recovers_empty(wal_dir):
    wal, rec = WAL.open(wal_dir)
    wal.close()
    assert rec.hard_state == HardState()
    assert rec.snapshot_meta is None
    assert rec.entries == []
    assert reopen(wal_dir).entries == []


def test_round_trip_keeps_every_field(wal_dir):
    written = [Entry(1, 1, EntryType.CONF, b"\x00conf"), Entry(1, 2, data=b""), Entry(2, 3, data=bytes(range(256)))]
    with WAL.open(wal_dir)[0] as wal:
        wal.save(HardState(2, 3, 2), written)
    rec = reopen(wal_dir)
    assert rec.entries == written
    assert rec.hard_state == HardState(2, 3, 2)


def test_later_record_replaces_conflicting_tail(wal_dir):
    with WAL.open(wal_dir)[0] as wal:
        wal.save(None, ents(1, 10, term=1))
        wal.save(None, ents(6, 7, term=2))  # replaces 6..10
        wal.save(None, ents(8, 8, term=2))
    assert reopen(wal_dir).entries == ents(1, 5, 1) + ents(6, 8, 2)


def test_overwrite_from_first_index(wal_dir):
    with WAL.open(wal_dir)[0] as wal:
        wal.save(None, ents(1, 3, term=1))
        wal.save(None, ents(1, 2, term=3))
    assert reopen(wal_dir).entries == ents(1, 2, 3)


def test_gap_and_non_consecutive_entries_are_refused_before_writing(wal_dir):
    with WAL.open(wal_dir)[0] as wal:
        wal.save(None, ents(1, 3))
        with pytest.raises(ValueError):
            wal.save(None, ents(5, 6))
        with pytest.raises(ValueError):
            wal.save(None, [Entry(1, 4), Entry(1, 6)])
    assert reopen(wal_dir).entries == ents(1, 3)


def test_hard_state_latest_wins(wal_dir):
    with WAL.open(wal_dir)[0] as wal:
        wal.save(HardState(1, 1, 0), ents(1, 2))
        wal.save(HardState(2, 0, 1), [])
        wal.save(None, ents(3, 3))  # no hard state: the previous one stands
    assert reopen(wal_dir).hard_state == HardState(2, 0, 1)
    with WAL.open(wal_dir)[0] as wal:
        wal.save(HardState(3, 2, 3), [])
    assert reopen(wal_dir).hard_state == HardState(3, 2, 3)


def test_empty_save_writes_nothing(wal_dir):
    with WAL.open(wal_dir)[0] as wal:
        size = wal.segments[0].stat().st_size
        wal.save(None, [])
        assert wal.segments[0].stat().st_size == size


def test_rotation_names_segments_by_sequence_and_first_index(wal_dir):
    with WAL.open(wal_dir, segment_size=600)[0] as wal:
        for i in range(1, 61):
            wal.save(HardState(1, 0, i - 1), ents(i, i))
        names = [p.name for p in wal.segments]
    assert len(names) >= 3
    assert names[0] == "0000000000000001-0000000000000001.wal"
    seqs = [int(n[:16]) for n in names]
    firsts = [int(n[17:33]) for n in names]
    assert seqs == list(range(1, len(names) + 1))
    assert firsts == sorted(firsts) and firsts[0] == 1
    assert all(p.stat().st_size <= 600 for p in sorted(wal_dir.glob("*.wal")))
    rec = reopen(wal_dir, segment_size=600)
    assert rec.entries == ents(1, 60)
    assert rec.hard_state == HardState(1, 0, 59)


def test_batch_larger_than_segment_goes_in_one_segment(wal_dir):
    with WAL.open(wal_dir, segment_size=100)[0] as wal:
        wal.save(None, ents(1, 50))
        wal.save(None, ents(51, 100))
    assert reopen(wal_dir).entries == ents(1, 100)


def test_snapshot_meta_drops_covered_entries_and_keeps_the_rest(wal_dir):
    meta = SnapshotMeta(5, 1, ConfState((1, 2, 3)))
    with WAL.open(wal_dir)[0] as wal:
        wal.save(HardState(1, 1, 8), ents(1, 8))
        wal.save_snapshot_meta(meta)
        wal.save(None, ents(9, 9))
    rec = reopen(wal_dir)
    assert rec.snapshot_meta == meta
    assert rec.entries == ents(6, 9)


def test_installed_snapshot_that_conflicts_discards_the_log(wal_dir):
    with WAL.open(wal_dir)[0] as wal:
        wal.save(None, ents(1, 8, term=1))
        wal.save_snapshot_meta(SnapshotMeta(6, 4))  # term 4 at index 6: our 6..8 are stale
        wal.save(None, ents(7, 7, term=4))
    rec = reopen(wal_dir)
    assert rec.entries == ents(7, 7, term=4)


def test_snapshot_beyond_the_log_starts_the_log_after_it(wal_dir):
    with WAL.open(wal_dir)[0] as wal:
        wal.save(None, ents(1, 3))
        wal.save_snapshot_meta(SnapshotMeta(100, 5))
        wal.save(None, ents(4, 4))  # covered by the snapshot: ignored
        with pytest.raises(ValueError):
            wal.save(None, ents(102, 102, term=5))
        wal.save(None, ents(101, 102, term=5))
    rec = reopen(wal_dir)
    assert rec.snapshot_meta == SnapshotMeta(100, 5)
    assert rec.entries == ents(101, 102, term=5)


def test_release_before_deletes_only_covered_segments(wal_dir):
    with WAL.open(wal_dir, segment_size=500)[0] as wal:
        for i in range(1, 41):
            wal.save(HardState(1, 0, i), ents(i, i))
        before = list(wal.segments)
        with pytest.raises(ValueError):
            wal.release_before(10)  # no snapshot yet
        wal.save_snapshot_meta(SnapshotMeta(25, 1))
        wal.release_before(25)
        after = list(wal.segments)
    assert after == [p for p in before if p in after] and len(after) < len(before)
    assert not any(p.exists() for p in before if p not in after)
    rec = reopen(wal_dir, segment_size=500)
    assert rec.snapshot_meta == SnapshotMeta(25, 1)
    assert rec.entries == ents(26, 40)
    assert rec.hard_state == HardState(1, 0, 40)


def test_release_before_never_deletes_the_current_segment(wal_dir):
    with WAL.open(wal_dir, segment_size=300)[0] as wal:
        for i in range(1, 21):
            wal.save(None, ents(i, i))
        wal.save_snapshot_meta(SnapshotMeta(20, 1))
        wal.release_before(20)
        assert len(wal.segments) == 1
        wal.save(HardState(1, 0, 21), ents(21, 21))
    rec = reopen(wal_dir, segment_size=300)
    assert rec.entries == ents(21, 21) and rec.snapshot_meta == SnapshotMeta(20, 1)


def test_hard_state_survives_release_of_the_segment_that_held_it(wal_dir):
    with WAL.open(wal_dir, segment_size=300)[0] as wal:
        wal.save(HardState(7, 2, 0), [])
        for i in range(1, 21):
            wal.save(None, ents(i, i, term=7))
        wal.save_snapshot_meta(SnapshotMeta(20, 7))
        wal.release_before(20)
    rec = reopen(wal_dir)
    assert rec.hard_state == HardState(7, 2, 0)


def test_reopen_appends_after_recovered_log(wal_dir):
    with WAL.open(wal_dir, segment_size=400)[0] as wal:
        wal.save(HardState(1, 1, 0), ents(1, 10))
    for first in (11, 21, 31):
        wal, rec = WAL.open(wal_dir, segment_size=400)
        assert rec.entries[-1].index == first - 1
        wal.save(HardState(1, 1, first), ents(first, first + 9))
        wal.close()
    assert reopen(wal_dir, segment_size=400).entries == ents(1, 40)


def test_second_opener_is_refused(wal_dir):
    wal, _ = WAL.open(wal_dir)
    with pytest.raises(RuntimeError):
        WAL.open(wal_dir)
    wal.close()
    reopen(wal_dir)


def test_fsync_off_still_round_trips(wal_dir):
    with WAL.open(wal_dir, fsync=False, segment_size=300)[0] as wal:
        for i in range(1, 31):
            wal.save(None, ents(i, i))
    assert reopen(wal_dir, fsync=False).entries == ents(1, 30)


def test_missing_first_segment_is_refused(wal_dir):
    with WAL.open(wal_dir, segment_size=300)[0] as wal:
        for i in range(1, 21):
            wal.save(None, ents(i, i))
        first = wal.segments[0]
    first.unlink()  # no snapshot covers its entries
    with pytest.raises(CorruptLogError, match="earlier segments are missing"):
        WAL.open(wal_dir)


def test_appends_overwrite_zeros_written_ahead_so_the_file_does_not_grow_per_save(wal_dir):
    """An fdatasync after an append that grew the file also commits its size (slower)."""
    with WAL.open(wal_dir)[0] as wal:
        wal.save(HardState(1, 0, 0), ents(1, 1))
        size = wal.segments[0].stat().st_size
        for i in range(2, 50):
            wal.save(HardState(1, 0, i - 1), ents(i, i))
        assert wal.segments[0].stat().st_size == size
    assert reopen(wal_dir).entries == ents(1, 49)
