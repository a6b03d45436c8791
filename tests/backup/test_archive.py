"""The backup file: whole or absent, and any damaged byte is refused with a clear error."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from skylock.backup.archive import ArchiveWriter, BackupHeader, read_archive
from skylock.errors import DamagedBackup

PAYLOAD = bytes(range(256)) * 40


def header(payload: bytes = PAYLOAD) -> BackupHeader:
    return BackupHeader(index=42, term=3, size=len(payload), payload_sha256=hashlib.sha256(payload).hexdigest(),
                        created="2024-01-01T00:00:00+00:00", source="node 1 at 127.0.0.1:7001")


def saved(path: Path, payload: bytes = PAYLOAD) -> Path:
    with ArchiveWriter(path, header(payload)) as out:
        for i in range(0, len(payload), 1000):
            out.write(payload[i:i + 1000])
        out.finish()
    return path


def test_a_saved_backup_reads_back_with_its_header(tmp_path: Path) -> None:
    path = saved(tmp_path / "b.skb")
    assert read_archive(path) == (header(), PAYLOAD)
    assert path.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "b.skb.partial").exists()


@pytest.mark.parametrize("where", [3, 20, 200, -40, -1])  # magic, header, payload, payload end, digest
def test_one_changed_byte_anywhere_is_refused(tmp_path: Path, where: int) -> None:
    path = saved(tmp_path / "b.skb")
    buf = bytearray(path.read_bytes())
    buf[where] ^= 0x01
    path.write_bytes(bytes(buf))
    with pytest.raises(DamagedBackup):
        read_archive(path)


def test_a_truncated_backup_is_refused(tmp_path: Path) -> None:
    path = saved(tmp_path / "b.skb")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DamagedBackup, match="sha256"):
        read_archive(path)
    path.write_bytes(b"SKYBAK01\x00")
    with pytest.raises(DamagedBackup, match="truncated"):
        read_archive(path)


def test_a_download_that_does_not_match_the_announced_digest_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "b.skb"
    with pytest.raises(DamagedBackup, match="sha256"):
        with ArchiveWriter(path, header()) as out:
            out.write(PAYLOAD[:-1] + b"\x00")
            out.finish()
    assert list(tmp_path.iterdir()) == []
