"""Backup and restore as an operator runs them, with real processes: ``skylock snapshot save``
from a live 3-node cluster, ``inspect``, ``restore --nodes 3`` once that cluster is gone, and
``start_cluster.py --data-dir`` bringing up a new cluster that holds every persistent znode of
the backup, with its data and stat; the sessions and ephemerals of the backup are dropped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from skylock.client import Client
from skylock.errors import NotLeader
from tests.integration.cluster import running_cluster
from tests.integration.launcher import StartCluster

#: two values of 600 KiB each, every byte value: the backup takes more than one chunk
BLOB = bytes(range(256)) * 2400


def snapshot_cli(*args: str, servers: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "skylock.cli", "snapshot", *args]
    if servers:
        argv += ["--servers", ",".join(servers)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def tree(client: Client, path: str = "/") -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Every znode under ``path``: its data and stat."""
    data, stat = client.get(path)
    found = {path: (data, stat)}
    for child in client.children(path):
        found.update(tree(client, f"{path.rstrip('/')}/{child}"))
    return found


def populate(client: Client) -> None:
    client.create("/app", b"")
    client.create("/app/config", b"v1")
    client.create("/app/config/db", b"postgres://db:5432/main")
    client.set("/app/config", b"v2")
    client.create("/app/jobs", b"")
    client.create("/app/jobs/job-", b"first", sequential=True)
    client.create("/app/jobs/job-", b"second", sequential=True)
    client.create("/blobs", b"")
    client.create("/blobs/a", BLOB)
    client.create("/blobs/b", BLOB[::-1])
    client.start_session("backup-test", ttl=30.0)  # open while the backup is taken
    client.create("/app/members", b"")
    client.create("/app/members/m1", b"me", ephemeral=True)
    client.lock_acquire("leader", owner="m1", timeout=5.0)


def test_save_inspect_restore_and_start_a_new_cluster_with_every_znode(tmp_path: Path) -> None:
    backup = tmp_path / "backup.skb"
    with running_cluster(tmp_path / "old") as old:
        client = old.client()
        populate(client)
        follower = next(n for n in (1, 2, 3) if n != old.leader())
        with pytest.raises(NotLeader):  # a backup is taken on the leader, which the error names
            old.node_client(follower).call("snapshot.begin")
        saved = snapshot_cli("save", str(backup), servers=old.servers)
        assert saved.returncode == 0, saved.stderr
        before = tree(client)
    assert saved.stdout.startswith(f"saved {backup}: index ")

    inspected = snapshot_cli("inspect", str(backup), "--json")
    assert inspected.returncode == 0, inspected.stderr
    info = json.loads(inspected.stdout)
    assert info["znodes"] == len(before) and info["sessions"] == 1 and info["ephemerals"] == 2
    assert info["size"] > 2 * len(BLOB) and info["index"] >= max(s["mzxid"] for _, s in before.values())

    damaged = tmp_path / "damaged.skb"
    raw = bytearray(backup.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    for args in (["inspect", str(damaged)], ["restore", str(damaged), "--data-dir", str(tmp_path / "no")]):
        refused = snapshot_cli(*args)
        assert refused.returncode == 1 and "DamagedBackup" in refused.stderr and "sha256" in refused.stderr
    assert not (tmp_path / "no").exists()

    new_dir = tmp_path / "new"
    restored = snapshot_cli("restore", str(backup), "--data-dir", str(new_dir), "--nodes", "3")
    assert restored.returncode == 0, restored.stderr
    assert "dropped 1 sessions and their 2 ephemeral nodes" in restored.stdout
    assert f"python start_cluster.py --data-dir {new_dir}" in restored.stdout
    new = StartCluster(new_dir)
    try:
        new.wait_leader()
        with Client(new.servers, request_timeout=15.0) as client:
            after = tree(client)
            persistent = {p: v for p, v in before.items() if not v[1]["ephemeral_owner"]}
            assert sorted(after) == sorted(persistent)
            for path, (data, stat) in persistent.items():
                assert after[path][0] == data, path
                assert {k: after[path][1][k] for k in ("czxid", "mzxid", "version")} == \
                       {k: stat[k] for k in ("czxid", "mzxid", "version")}, path
            assert client.lock_info("leader")["holder"] is None
            created = client.create("/after-restore", b"new cluster")
            assert client.get(created)[1]["czxid"] > info["index"]
    finally:
        assert new.interrupt() == 0, new.output_so_far()
        new.close()
