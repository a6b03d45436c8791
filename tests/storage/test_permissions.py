"""A node's data is private to its user: directories 0700, files 0600, whatever the umask,
and an existing directory with looser modes is tightened (and the change logged)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from skylock.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMeta
from skylock.storage import WAL, SnapshotStore, private_dir
from skylock.storage.files import write_atomic


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Umask 0: any mode not asked for explicitly would come out world-readable."""
    old = os.umask(0)
    yield
    os.umask(old)


def modes(root: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        out[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return out


def assert_private(root: Path) -> None:
    for name, mode in modes(root).items():
        path = root / name
        want = 0o700 if path.is_dir() else 0o600
        assert mode == want, f"{name} is {mode:04o}, expected {want:04o}"


def _fill(data_dir: Path) -> None:
    private_dir(data_dir)
    snaps = SnapshotStore(data_dir / "snap")
    snaps.save(Snapshot(SnapshotMeta(3, 1, ConfState((1,))), b"state"))
    wal, _ = WAL.open(data_dir / "wal", segment_size=200, fsync=False)
    with wal:
        for i in range(1, 20):  # small segments: several rotations
            wal.save(HardState(term=1, vote=1, commit=i), [Entry(index=i, term=1, data=b"session-secret")])
    write_atomic(data_dir / "extra", b"x", fsync=False)


def test_fresh_data_is_private_even_with_umask_zero(tmp_path: Path, open_umask: None) -> None:
    data_dir = tmp_path / "deep" / "node1"
    _fill(data_dir)
    assert len(list((data_dir / "wal").glob("*.wal"))) > 1 and list((data_dir / "snap").glob("*.snap"))
    assert_private(data_dir)


def test_loose_existing_data_is_tightened_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data_dir = tmp_path / "node1"
    _fill(data_dir)
    for path in [data_dir, *data_dir.rglob("*")]:
        os.chmod(path, 0o777 if path.is_dir() else 0o666)
    (data_dir / "wal" / "0000000000000001-0000000000000001.wal.tmp").write_bytes(b"torn")
    os.chmod(data_dir / "wal" / "0000000000000001-0000000000000001.wal.tmp", 0o644)
    caplog.set_level(logging.WARNING, logger="skylock.storage")
    private_dir(data_dir)
    assert_private(data_dir)
    assert "tightened permissions of" in caplog.text and str(data_dir / "wal") in caplog.text
    caplog.clear()
    private_dir(data_dir)
    assert "tightened" not in caplog.text  # nothing left to fix, nothing logged


def test_wal_and_snapshot_store_secure_their_own_directories(tmp_path: Path) -> None:
    (tmp_path / "wal").mkdir(mode=0o755)
    (tmp_path / "snap").mkdir(mode=0o755)
    os.chmod(tmp_path / "wal", 0o755)
    os.chmod(tmp_path / "snap", 0o755)
    SnapshotStore(tmp_path / "snap")
    WAL.open(tmp_path / "wal", fsync=False)[0].close()
    assert_private(tmp_path / "wal")
    assert_private(tmp_path / "snap")


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"")
    os.chmod(outside, 0o644)
    data_dir = tmp_path / "node1"
    data_dir.mkdir()
    (data_dir / "link").symlink_to(outside)
    private_dir(data_dir)
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644
