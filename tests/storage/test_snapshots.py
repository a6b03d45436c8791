"""SnapshotStore: atomic saves, keeping the newest N, skipping damaged files."""

from __future__ import annotations

import logging

from skylock.raft.types import ConfState, Snapshot, SnapshotMeta
from skylock.storage import SnapshotStore


def snap(index: int, term: int = 1, data: bytes | None = None) -> Snapshot:
    return Snapshot(SnapshotMeta(index, term, ConfState((1, 2, 3))), data if data is not None else b"state@%d" % index)


def test_empty_store_has_no_snapshot(tmp_path):
    assert SnapshotStore(tmp_path / "snap").load_newest() is None


def test_round_trip_and_newest_wins(tmp_path):
    store = SnapshotStore(tmp_path / "snap")
    store.save(snap(10))
    store.save(snap(20, 2, bytes(range(256)) * 10))
    assert SnapshotStore(tmp_path / "snap").load_newest() == snap(20, 2, bytes(range(256)) * 10)


def test_keeps_only_the_newest(tmp_path):
    store = SnapshotStore(tmp_path / "snap", keep=2)
    for i in (5, 10, 15, 20):
        store.save(snap(i))
    names = sorted(p.name for p in (tmp_path / "snap").iterdir())
    assert names == ["0000000000000015-0000000000000001.snap", "0000000000000020-0000000000000001.snap"]


def test_damaged_newest_is_skipped_with_a_warning(tmp_path, caplog):
    store = SnapshotStore(tmp_path / "snap")
    store.save(snap(10))
    store.save(snap(20))
    newest = tmp_path / "snap" / "0000000000000020-0000000000000001.snap"
    buf = bytearray(newest.read_bytes())
    buf[-3] ^= 0xFF
    newest.write_bytes(bytes(buf))
    with caplog.at_level(logging.WARNING, logger="skylock.storage"):
        assert store.load_newest() == snap(10)
    assert "CRC" in caplog.text and newest.name in caplog.text


def test_truncated_and_empty_files_are_skipped(tmp_path):
    store = SnapshotStore(tmp_path / "snap", keep=3)
    store.save(snap(10))
    store.save(snap(20))
    store.save(snap(30))
    d = tmp_path / "snap"
    p30 = d / "0000000000000030-0000000000000001.snap"
    p30.write_bytes(p30.read_bytes()[:-5])
    (d / "0000000000000020-0000000000000001.snap").write_bytes(b"")
    assert store.load_newest() == snap(10)


def test_interrupted_save_leaves_previous_snapshot_and_no_temp(tmp_path):
    d = tmp_path / "snap"
    store = SnapshotStore(d)
    store.save(snap(10))
    (d / "0000000000000020-0000000000000001.snap.tmp").write_bytes(b"half a snapsh")  # crash before rename
    store = SnapshotStore(d)
    assert store.load_newest() == snap(10)
    assert not list(d.glob("*.tmp"))


def test_save_that_fails_before_rename_leaves_the_previous_snapshot(tmp_path, monkeypatch):
    import skylock.storage.files as files

    d = tmp_path / "snap"
    store = SnapshotStore(d)
    store.save(snap(10))

    def broken_fsync(fd):
        raise OSError("disk gone")

    monkeypatch.setattr(files.os, "fsync", broken_fsync)
    try:
        store.save(snap(20))
    except OSError:
        pass
    monkeypatch.undo()
    assert not (d / "0000000000000020-0000000000000001.snap").exists()
    assert SnapshotStore(d).load_newest() == snap(10)
