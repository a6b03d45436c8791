"""The backup file: the replicated state at one log index, with a header and a sha256.

Layout (integers big-endian)::

    b"SKYBAK01"          magic, 8 bytes
    u32                  length of the header
    header               UTF-8 JSON: format, index, term, size, payload_sha256, created, source
    payload              ``size`` bytes: the state machine's snapshot (skylock/state/snapshot.py)
    sha256               32 bytes: the digest of everything above

The trailing digest covers the header as well as the payload, so a changed byte anywhere is
caught; ``payload_sha256`` is the leader's own digest of what it sent, so the copy is checked
end to end. The file is written as ``FILE.partial`` and renamed to ``FILE`` only once complete
and verified: ``FILE`` is whole or absent. It holds every node's data, the users' token
hashes and the sessions' ids, so it is readable by its owner only (0600).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from skylock.errors import DamagedBackup

MAGIC = b"SKYBAK01"
FORMAT = 1
_LENGTH = struct.Struct(">I")
DIGEST_SIZE = 32
#: A header is a few hundred bytes; a longer one means the length field is damaged.
MAX_HEADER = 64 << 10


@dataclass(frozen=True, slots=True)
class BackupHeader:
    """What a backup holds: the state after log entry ``index`` (of ``term``), ``size`` bytes."""

    index: int
    term: int
    size: int
    payload_sha256: str
    #: when it was saved (UTC, ISO 8601) and from which node (``node N at host:port``)
    created: str
    source: str
    format: int = FORMAT

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> "BackupHeader":
        try:
            fields: dict[str, Any] = json.loads(raw.decode())
            header = cls(**fields)
        except (ValueError, TypeError) as exc:
            raise DamagedBackup(f"unreadable header: {exc}") from None
        if header.format != FORMAT:
            raise DamagedBackup(f"backup format {header.format!r}; this version reads format {FORMAT}")
        return header


class ArchiveWriter:
    """Writes one backup as its payload arrives in chunks; a context manager that leaves no
    file behind unless ``finish`` succeeded."""

    def __init__(self, path: Path, header: BackupHeader) -> None:
        self.path = path
        self.header = header
        self._partial = path.with_name(path.name + ".partial")
        fd = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a leftover partial file keeps its old mode through O_TRUNC
        self._file = os.fdopen(fd, "wb")
        self._whole = hashlib.sha256()
        self._payload = hashlib.sha256()
        self._written = 0
        head = header.to_bytes()
        self._put(MAGIC + _LENGTH.pack(len(head)) + head)

    def _put(self, data: bytes) -> None:
        self._file.write(data)
        self._whole.update(data)

    def write(self, chunk: bytes) -> None:
        self._put(chunk)
        self._payload.update(chunk)
        self._written += len(chunk)

    def finish(self) -> None:
        """Check size and digest against the header, then seal and rename into place."""
        if self._written != self.header.size:
            raise DamagedBackup(f"received {self._written} bytes, the leader announced {self.header.size}")
        if self._payload.hexdigest() != self.header.payload_sha256:
            raise DamagedBackup("the received snapshot does not match the sha256 the leader announced")
        self._file.write(self._whole.digest())
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._partial, self.path)

    def abort(self) -> None:
        self._file.close()
        self._partial.unlink(missing_ok=True)

    def __enter__(self) -> "ArchiveWriter":
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.abort()


def read_archive(path: Path) -> tuple[BackupHeader, bytes]:
    """The header and payload of a backup file; ``DamagedBackup`` saying what is wrong if any check fails."""
    buf = path.read_bytes()
    if not buf.startswith(MAGIC):
        raise DamagedBackup(f"{path} is not a SkyLock backup (it does not start with {MAGIC.decode()})")
    start = len(MAGIC) + _LENGTH.size
    if len(buf) < start + DIGEST_SIZE:
        raise DamagedBackup(f"{path} is truncated ({len(buf)} bytes)")
    (head_len,) = _LENGTH.unpack_from(buf, len(MAGIC))
    if head_len > MAX_HEADER or start + head_len + DIGEST_SIZE > len(buf):
        raise DamagedBackup(f"{path} is truncated or its header length ({head_len}) is damaged")
    body, digest = buf[:-DIGEST_SIZE], buf[-DIGEST_SIZE:]
    if hashlib.sha256(body).digest() != digest:
        raise DamagedBackup(f"{path} fails its sha256 check: the file is damaged or incomplete")
    header = BackupHeader.from_bytes(buf[start:start + head_len])
    payload = body[start + head_len:]
    if len(payload) != header.size or hashlib.sha256(payload).hexdigest() != header.payload_sha256:
        raise DamagedBackup(f"{path}: the snapshot does not match its header (size or sha256)")
    return header, payload
