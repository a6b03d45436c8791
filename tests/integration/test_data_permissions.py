"""Real nodes keep their data private: a fresh data directory is 0700 with 0600 files even
under umask 0, and a node restarted on a directory someone loosened tightens it again."""

from __future__ import annotations

import os
from pathlib import Path

from tests.integration.cluster import LocalCluster, running_cluster
from tests.storage.test_permissions import assert_private


def _data_dirs(cluster: LocalCluster) -> list[Path]:
    return [cluster.root / f"node{i}" for i in range(1, cluster.size + 1)]


def test_nodes_keep_their_data_private(tmp_path: Path) -> None:
    old = os.umask(0)  # inherited by the node processes
    try:
        with running_cluster(tmp_path) as cluster:
            client = cluster.client()
            client.call("session.open", client_id="someone", ttl_ms=60000)  # its id is now in every WAL
            client.create("/secret", b"x")
            cluster.wait_converged()
            for data_dir in _data_dirs(cluster):
                assert list((data_dir / "wal").glob("*.wal")), data_dir
                assert_private(data_dir)
            for nid in range(1, cluster.size + 1):
                cluster.stop(nid)
            for data_dir in _data_dirs(cluster):
                for path in [data_dir, *data_dir.rglob("*")]:
                    os.chmod(path, 0o755 if path.is_dir() else 0o644)
            cluster.start()
            cluster.leader()
            for data_dir in _data_dirs(cluster):
                assert_private(data_dir)
            log = (tmp_path / "node1.log").read_text()
            assert "tightened permissions of" in log and str(tmp_path / "node1" / "wal") in log
            assert cluster.client().get("/secret")[0] == b"x"  # the data survived the tightening
    finally:
        os.umask(old)
