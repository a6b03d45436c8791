"""``skylock snapshot inspect``: what a backup holds, after checking it whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skylock.backup.archive import read_archive
from skylock.errors import BadRequest, DamagedBackup
from skylock.state import snapshot


def inspect_backup(path: Path) -> dict[str, Any]:
    """Index, term, counts and sizes of the backup at ``path``; ``DamagedBackup`` if it fails a check.

    ``znodes`` counts every node of the tree, ``/`` included; ``sessions`` and ``ephemerals``
    are those of the backup, which a restore drops."""
    header, payload = read_archive(path)
    try:
        tree, sessions, auth, _ = snapshot.decode(payload)
    except BadRequest as exc:
        raise DamagedBackup(f"{path}: its snapshot cannot be read: {exc.message}") from None
    nodes = [node for _, node in tree]
    return {
        "file": str(path),
        "file_size": path.stat().st_size,
        "index": header.index,
        "term": header.term,
        "created": header.created,
        "source": header.source,
        "size": header.size,
        "sha256": header.payload_sha256,
        "znodes": len(nodes),
        "data_bytes": sum(len(node.data) for node in nodes),
        "sessions": len(sessions),
        "ephemerals": sum(1 for node in nodes if node.ephemeral_owner),
        "users": len(auth.to_wire().get("users", [])),
    }
