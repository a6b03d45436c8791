"""Membership changes on real processes: grow a 3-node cluster by a 4th node that joins
as a learner (catching up by snapshot) and is promoted, then remove node 1 and lose
node 2: nodes 3 and 4 still take writes, and a client seeded with nodes 1 and 2 finds them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from skylock.config import write_config
from skylock.layout import free_ports

from .cluster import LocalCluster, running_cluster, wait_until

#: snapshot and compact early, so the new node is far behind a compacted log: it gets a snapshot
SECTIONS = {"storage": {"snapshot_entries": 20, "keep_entries": 5}}


def _cli(cluster: LocalCluster, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "skylock.cli", "--servers", ",".join(cluster.servers), "--json",
                          "--timeout", "15", *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _fourth_node_config(cluster: LocalCluster) -> tuple[Path, dict]:
    """node4.yaml: node 3's settings, the three members plus itself, its own data dir."""
    raw = yaml.safe_load(cluster.configs[2].read_text())
    peer, client, http = free_ports(3)
    me = {"id": 4, "peer_address": f"127.0.0.1:{peer}", "client_address": f"127.0.0.1:{client}", "http_port": http}
    raw["cluster"] = {"node_id": 4, "members": raw["cluster"]["members"] + [me]}
    raw["storage"]["data_dir"] = "./node4"
    path = cluster.root / "node4.yaml"
    write_config(raw, path)
    return path, me


def _start_joining(cluster: LocalCluster, config: Path) -> None:
    log = open(cluster.root / "node4.log", "ab")
    cluster.procs[4] = subprocess.Popen(
        [sys.executable, "-m", "skylock.cli", "serve", "--config", str(config), "--join"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log.close()


def _roles(listing: dict) -> dict[int, str]:
    return {m["id"]: m["role"] for m in listing["members"]}


def test_grow_promote_remove_and_lose_a_node(tmp_path: Path) -> None:
    with running_cluster(tmp_path, sections=SECTIONS) as cluster:
        writer = cluster.client()
        for i in range(40):
            writer.create(f"/k{i}", b"v%d" % i)
        config, me = _fourth_node_config(cluster)

        added = _cli(cluster, "member", "add", "4", "--peer-address", me["peer_address"],
                     "--client-address", me["client_address"], "--http-port", str(me["http_port"]))
        assert _roles(added) == {1: "voter", 2: "voter", 3: "voter", 4: "learner"}
        _start_joining(cluster, config)
        cluster.client_ports.append(int(me["client_address"].rsplit(":", 1)[1]))
        node4 = cluster.node_client(4)
        assert wait_until(lambda: node4.get("/k39", consistency="local")[0] == b"v39",
                          timeout=30, what="node 4 to catch up and serve /k39 locally")

        promoted = _cli(cluster, "member", "promote", "4")
        assert _roles(promoted)[4] == "voter"
        seeded = cluster.client(cluster.address(1), cluster.address(2))  # learns nodes 3 and 4
        seeded.create("/seeded", b"x")

        removed = _cli(cluster, "member", "remove", "1")
        assert _roles(removed) == {2: "voter", 3: "voter", 4: "voter"}
        cluster.stop(1)
        cluster.stop(2)
        survivors = cluster.client(cluster.address(3), cluster.address(4))
        survivors.create("/after", b"ok")
        seeded.create("/after-seeded", b"ok")
        assert node4.get("/after-seeded", consistency="linearizable")[0] == b"ok"
        assert _roles(_cli(cluster, "member", "list")) == {2: "voter", 3: "voter", 4: "voter"}
