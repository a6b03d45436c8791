"""Durable storage of a node: the write-ahead log (``WAL``) and snapshot files
(``SnapshotStore``). Used only by the RaftNode actor.

Startup::

    private_dir(data_dir)      # 0700, files 0600; tightens (and logs) looser modes
    snap = snaps.load_newest()
    wal, rec = WAL.open(data_dir / "wal")
    rec.check_snapshot(snap)   # CorruptLogError if the WAL names a snapshot the store lacks
"""

from skylock.storage.errors import CorruptLogError
from skylock.storage.files import private_dir
from skylock.storage.recovery import Recovered
from skylock.storage.snapshots import SnapshotStore
from skylock.storage.wal import WAL

__all__ = ["WAL", "Recovered", "SnapshotStore", "CorruptLogError", "private_dir"]
