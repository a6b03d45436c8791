"""Backup and restore of a whole cluster (``skylock snapshot save / inspect / restore``).

- ``archive``: the backup file (header, the state snapshot, a sha256 over it all);
- ``download``: ``save``, streamed from the leader in chunks over the client protocol;
- ``summary``: ``inspect``, what a verified backup holds;
- ``restore``: the data directories of a new cluster holding the backup's data.
"""

from skylock.backup.archive import BackupHeader, read_archive
from skylock.backup.download import save_backup
from skylock.backup.restore import Restored, restore_backup
from skylock.backup.summary import inspect_backup

__all__ = ["BackupHeader", "Restored", "inspect_backup", "read_archive", "restore_backup", "save_backup"]
