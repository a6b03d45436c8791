"""``skylock snapshot save``: stream a backup from the leader into a file.

The leader takes the backup (``snapshot.begin``, after a ReadIndex barrier, so it holds
every write acknowledged before the command started) and keeps it while this side reads
it in chunks (``snapshot.chunk``) from that same node, so a backup of any size travels in
frames far below the protocol's limits. Should the leader change before the backup
begins, the new leader is asked; a failure after that ends the command (nothing is left
at the target path) and it can simply be run again.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from skylock.backup.archive import ArchiveWriter, BackupHeader
from skylock.client import Client
from skylock.errors import DamagedBackup, NotLeader

#: ``connect(None)``: a client of the whole cluster; ``connect([address])``: of that server only.
Connect = Callable[[list[str] | None], Client]

#: Times the leader is looked up again when it changed under the command.
ATTEMPTS = 3


def save_backup(connect: Connect, path: Path) -> BackupHeader:
    """Write a backup of the cluster to ``path``; returns its header."""
    for attempt in range(ATTEMPTS):
        with connect(None) as client:
            leader = client.leader()
        try:
            with connect([leader["client_address"]]) as client:
                return _download(client, path, f"node {leader['leader_id']} at {leader['client_address']}")
        except NotLeader:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _download(client: Client, path: Path, source: str) -> BackupHeader:
    begun: dict[str, Any] = client.call("snapshot.begin")
    header = BackupHeader(
        index=begun["index"], term=begun["term"], size=begun["size"], payload_sha256=begun["sha256"],
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), source=source,
    )
    with ArchiveWriter(path, header) as out:
        offset = 0
        while offset < header.size:
            data = client.call("snapshot.chunk", export_id=begun["export_id"], offset=offset)["data"]
            if not data:
                raise DamagedBackup(f"the leader sent no bytes at offset {offset} of {header.size}")
            out.write(data)
            offset += len(data)
        out.finish()
    return header
