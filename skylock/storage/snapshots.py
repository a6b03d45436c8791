"""Snapshot files: the state machine's image at an index, written atomically and
checked by CRC on load, so a crash or a damaged disk never yields a half snapshot.

File ``<index>-<term>.snap`` = ``b"SKYSNAP1" | crc32 u32 | length u64 | payload``,
payload = msgpack ``[snapshot_meta_to_wire(meta), data]``; the CRC covers the payload.
"""

from __future__ import annotations

import logging
import re
import struct
import zlib
from pathlib import Path

import msgpack

from skylock.raft.types import Snapshot, snapshot_meta_from_wire, snapshot_meta_to_wire
from skylock.storage.files import fsync_dir, private_dir, remove_temp_files, write_atomic

log = logging.getLogger("skylock.storage")

MAGIC = b"SKYSNAP1"
_HEADER = struct.Struct("<8sIQ")
_NAME = re.compile(r"^(\d{16})-(\d{16})\.snap$")


class SnapshotStore:
    """A directory of snapshot files; keeps the newest ``keep``."""

    def __init__(self, directory: Path | str, keep: int = 2) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self._dir = Path(directory)
        self._keep = keep
        created = not self._dir.is_dir()
        private_dir(self._dir)
        if created:
            fsync_dir(self._dir.parent)
        remove_temp_files(self._dir)

    def save(self, snapshot: Snapshot) -> None:
        """Write ``snapshot`` durably (temp file, fsync, rename, fsync dir), then prune."""
        meta = snapshot.meta
        payload = msgpack.packb([snapshot_meta_to_wire(meta), snapshot.data], use_bin_type=True)
        path = self._dir / f"{meta.index:016d}-{meta.term:016d}.snap"
        write_atomic(path, _HEADER.pack(MAGIC, zlib.crc32(payload), len(payload)) + payload)
        log.info("saved snapshot %s (%d bytes)", path.name, len(payload))
        self._prune()

    def load_newest(self) -> Snapshot | None:
        """The newest snapshot that passes its checks; damaged ones are skipped with a warning."""
        for path in reversed(self._files()):
            try:
                return _read(path)
            except ValueError as exc:
                log.warning("skipping damaged snapshot %s: %s", path, exc)
        return None

    def _files(self) -> list[Path]:
        """Snapshot files, oldest first (by index, then term)."""
        found = [(int(m.group(1)), int(m.group(2)), p) for p in self._dir.iterdir()
                 if (m := _NAME.match(p.name))]
        return [p for _, _, p in sorted(found)]

    def _prune(self) -> None:
        old = self._files()[:-self._keep]
        for path in old:
            path.unlink()
            log.info("deleted old snapshot %s", path.name)
        if old:
            fsync_dir(self._dir)


def _read(path: Path) -> Snapshot:
    buf = path.read_bytes()
    if len(buf) < _HEADER.size:
        raise ValueError("file shorter than its header")
    magic, crc, length = _HEADER.unpack_from(buf)
    payload = buf[_HEADER.size:]
    if magic != MAGIC:
        raise ValueError("bad magic")
    if len(payload) != length:
        raise ValueError(f"payload is {len(payload)} bytes, header says {length}")
    if zlib.crc32(payload) != crc:
        raise ValueError("CRC mismatch")
    try:
        meta_w, data = msgpack.unpackb(payload, raw=False)
        return Snapshot(snapshot_meta_from_wire(meta_w), bytes(data))
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ValueError(f"malformed payload: {exc}") from exc
