"""The Raft log a node holds in memory and on disk is bounded in bytes, not only in
entries: with large writes a snapshot comes every ``storage.snapshot_bytes`` of applied
data and at most ``storage.keep_bytes`` stay behind it, so neither a running node nor
one that restarts (and replays its WAL) holds much more than that. Real node
processes; memory is read from /proc as a generous bound, never timed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.cluster import LocalCluster, running_cluster, wait_until

pytestmark = pytest.mark.timeout(300)

MiB = 1 << 20
VALUE_SIZE = 512 << 10
WRITES = 600  # 300 MiB of entry data: far more than the bounds below
KEYS = 10  # the tree itself stays small (10 x 512 KiB): what grows is the log
#: Snapshots by bytes only (the entry counts are out of reach), small WAL segments so that
#: deleting the ones behind a snapshot shows.
SECTIONS = {"storage": {"snapshot_bytes": "8MiB", "keep_bytes": "4MiB", "snapshot_entries": 10_000_000,
                        "keep_entries": 10_000_000, "segment_size": "4MiB"}}
RSS_BOUND = 256 * MiB  # a node holding the whole log peaks at about 360 MiB here
WAL_BOUND = 48 * MiB  # one snapshot interval, the entries kept behind it, a partly full segment


def status_bytes(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` memory field (VmRSS, VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def wal_bytes(cluster: LocalCluster, node_id: int) -> int:
    return sum(p.stat().st_size for p in (cluster.root / f"node{node_id}" / "wal").glob("*.wal"))


def newest_snapshot_index(cluster: LocalCluster, node_id: int) -> int:
    names = [p.name for p in (cluster.root / f"node{node_id}" / "snap").glob("*.snap")]
    return max((int(name.split("-")[0]) for name in names), default=0)


def value(i: int) -> bytes:
    return b"%06d" % i + bytes([i % 251]) * (VALUE_SIZE - 6)


def write_all(cluster: LocalCluster, start: int, stop: int) -> None:
    client = cluster.client(request_timeout=30.0, attempt_timeout=10.0)
    for i in range(start, stop):
        if i < KEYS:
            client.create(f"/big-{i}", value(i))
        else:
            client.set(f"/big-{i % KEYS}", value(i))


def last_values_everywhere(cluster: LocalCluster, node_ids: list[int]) -> bool:
    """Every node answers, from its own state, the last value written to every key."""
    for nid in node_ids:
        probe = cluster.node_client(nid)
        for k in range(KEYS):
            last = max(i for i in range(WRITES) if i % KEYS == k)
            if probe.get(f"/big-{k}", consistency="local")[0] != value(last):
                return False
    return True


def assert_bounded(cluster: LocalCluster, node_ids: list[int], when: str) -> None:
    """Each node's peak RSS so far (VmHWM: a restarted node's includes its WAL replay) and
    its WAL on disk stay within generous bounds."""
    for nid in node_ids:
        pid = cluster.procs[nid].pid
        peak, wal = status_bytes(pid, "VmHWM"), wal_bytes(cluster, nid)
        assert peak < RSS_BOUND, f"node {nid} {when}: peak RSS {peak // MiB} MiB"
        assert wal < WAL_BOUND, f"node {nid} {when}: WAL holds {wal // MiB} MiB"


def test_large_writes_keep_memory_and_wal_bounded_through_restarts(tmp_path: Path) -> None:
    with running_cluster(tmp_path, sections=SECTIONS) as c:
        leader = c.leader()
        follower = next(n for n in (1, 2, 3) if n != leader)
        live = [n for n in (1, 2, 3) if n != follower]
        write_all(c, 0, KEYS)  # 5 MiB: no snapshot yet
        c.kill(follower)  # stopped during the writes: the others compact past it
        write_all(c, KEYS, WRITES)
        for nid in live:
            assert newest_snapshot_index(c, nid) > 0, f"node {nid} took no snapshot"
        assert_bounded(c, live, "after the writes")

        # the follower comes back behind a compacted log: it is brought up by InstallSnapshot
        log = tmp_path / f"node{follower}.log"
        seen = len(log.read_text())
        c.start(follower)
        wait_until(lambda: last_values_everywhere(c, [follower]), timeout=60, what="the follower to catch up")
        restored = [int(i) for i in re.findall(r"restored snapshot index=(\d+)", log.read_text()[seen:])]
        assert restored and max(restored) > KEYS, f"the follower did not install a snapshot: {restored}"
        c.wait_converged(timeout=30)

        # a restart replays only what the WAL holds after the snapshot
        for nid in (1, 2, 3):
            c.stop(nid)
        c.start()
        c.leader(timeout=30)
        wait_until(lambda: last_values_everywhere(c, [1, 2, 3]), timeout=60, what="every value after the restart")
        assert_bounded(c, [1, 2, 3], "after the restart")
