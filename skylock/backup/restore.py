"""``skylock snapshot restore``: turn a backup into the data directories of a new cluster.

For each of nodes 1..N it writes ``DIR/node{i}`` exactly as a node that installed the
backup as a Raft snapshot would have left it: ``snap/`` holds the snapshot at the backup's
index and term with members 1..N as voters, and ``wal/`` records that snapshot and a hard
state committed up to it. ``python start_cluster.py --data-dir DIR`` (``--nodes N`` for
N other than 3) then starts nodes that recover from it; log indexes, and so zxids and lock
fencing tokens, go on increasing from the backup's.

Sessions are dropped, etcd-style: their owners were clients of the old cluster, which
cannot heartbeat the new one, so every session of the backup ends as if it expired at
the backup's index, and its ephemeral nodes (lock holders and waiters among them) are
deleted. Persistent nodes, their data, stats and sequence counters, and the users, roles
and grants of secure mode are kept.

SkyLock has no cluster id: a cluster is its members (ids, addresses) as the node configs
list them, plus in secure mode its CURVE keys. What makes the restored cluster a new one
is that it starts from its own fresh log and the configs it is started with; it never
talks to the old cluster unless its configs name the old cluster's addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from skylock.state.applied_tags import AppliedTags
from skylock.state.envelope import encode_snapshot
from skylock.backup.archive import read_archive
from skylock.errors import BadRequest, DamagedBackup
from skylock.raft import ConfState, HardState, Snapshot, SnapshotMeta
from skylock.state import StateMachine
from skylock.storage import WAL, SnapshotStore, private_dir


@dataclass(frozen=True, slots=True)
class Restored:
    index: int
    term: int
    node_dirs: list[Path]
    sessions_dropped: int
    ephemerals_deleted: int


def restore_backup(backup: Path, data_dir: Path, nodes: int) -> Restored:
    """Verify ``backup`` and lay out ``data_dir/node1..nodes``; refuses a non-empty target."""
    if nodes < 1:
        raise BadRequest(f"--nodes must be at least 1, not {nodes}")
    header, payload = read_archive(backup)
    targets = [data_dir / f"node{i}" for i in range(1, nodes + 1)]
    used = [str(t) for t in targets if t.exists() and any(t.iterdir())]
    if used:
        raise BadRequest(f"{', '.join(used)} already hold data: restore makes a new cluster, so it needs "
                         "empty (or missing) node directories")
    machine = StateMachine()
    try:
        machine.restore(payload)
    except BadRequest as exc:
        raise DamagedBackup(f"{backup}: its snapshot cannot be read: {exc.message}") from None
    dropped = machine.drop_sessions()
    meta = SnapshotMeta(header.index, header.term, ConfState(tuple(range(1, nodes + 1))))
    snapshot = Snapshot(meta, encode_snapshot(machine.snapshot(), AppliedTags()))
    for target in targets:
        _lay_out(target, snapshot)
    return Restored(header.index, header.term, targets, len(dropped["sessions"]), len(dropped["deleted"]))


def _lay_out(node_dir: Path, snapshot: Snapshot) -> None:
    """What a node that installed ``snapshot`` and nothing since holds on disk."""
    private_dir(node_dir)
    SnapshotStore(node_dir / "snap").save(snapshot)
    wal, _ = WAL.open(node_dir / "wal")
    with wal:
        wal.save_snapshot_meta(snapshot.meta)
        wal.save(HardState(term=snapshot.meta.term, vote=0, commit=snapshot.meta.index), [])
