"""Restore lays out, for each new member, what a node that installed the backup as a Raft
snapshot holds: a snapshot file and a WAL that records it, with no sessions left."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from skylock.state.envelope import decode_snapshot
from skylock.backup import restore_backup
from skylock.backup.archive import ArchiveWriter, BackupHeader
from skylock.errors import BadRequest, DamagedBackup
from skylock.raft import ConfState
from skylock.state import StateMachine, commands
from skylock.storage import WAL, SnapshotStore


def backup_of(path: Path, machine: StateMachine, index: int, term: int) -> Path:
    payload = machine.snapshot()
    header = BackupHeader(index=index, term=term, size=len(payload),
                          payload_sha256=hashlib.sha256(payload).hexdigest(), created="now", source="test")
    with ArchiveWriter(path, header) as out:
        out.write(payload)
        out.finish()
    return path


def sample_state() -> StateMachine:
    sm = StateMachine()
    for zxid, cmd in enumerate([
        commands.create("/app", b"", now_ms=1),
        commands.create("/app/blob", bytes(range(256)), now_ms=1),
        commands.open_session("secret-1", "c", 10_000, now_ms=1),
        commands.create("/app/eph", b"e", ephemeral=True, session_id="secret-1", now_ms=1),
    ], start=1):
        assert sm.apply(zxid, cmd).error is None
    return sm


def test_every_node_dir_recovers_the_backup_at_its_index_without_sessions(tmp_path: Path) -> None:
    backup = backup_of(tmp_path / "b.skb", sample_state(), index=6, term=2)
    restored = restore_backup(backup, tmp_path / "new", nodes=3)
    assert (restored.sessions_dropped, restored.ephemerals_deleted) == (1, 1)
    assert restored.node_dirs == [tmp_path / "new" / f"node{i}" for i in (1, 2, 3)]
    for node_dir in restored.node_dirs:
        snap = SnapshotStore(node_dir / "snap").load_newest()
        assert snap is not None and (snap.meta.index, snap.meta.term) == (6, 2)
        assert snap.meta.conf == ConfState((1, 2, 3))
        wal, recovered = WAL.open(node_dir / "wal")
        wal.close()
        recovered.check_snapshot(snap)
        assert (recovered.hard_state.term, recovered.hard_state.commit) == (2, 6) and recovered.entries == []
        machine = StateMachine()
        machine.restore(decode_snapshot(snap.data)[0])
        assert machine.sessions() == [] and machine.exists("/app/eph") is None
        assert machine.get("/app/blob")[0] == bytes(range(256))


def test_restore_refuses_a_used_directory_and_a_damaged_file(tmp_path: Path) -> None:
    backup = backup_of(tmp_path / "b.skb", sample_state(), index=6, term=2)
    (tmp_path / "used" / "node2").mkdir(parents=True)
    (tmp_path / "used" / "node2" / "x").write_text("data")
    with pytest.raises(BadRequest, match="already hold data"):
        restore_backup(backup, tmp_path / "used", nodes=3)
    assert not (tmp_path / "used" / "node1").exists()
    damaged = tmp_path / "damaged.skb"
    damaged.write_bytes(backup.read_bytes()[:-1] + b"\x00")
    with pytest.raises(DamagedBackup):
        restore_backup(damaged, tmp_path / "fresh", nodes=3)
    assert not (tmp_path / "fresh").exists()
