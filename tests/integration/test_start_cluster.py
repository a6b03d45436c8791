"""start_cluster.py as a user runs it: prints the nodes (with their PIDs) and the leader, serves,
reports a node that exits while the others keep serving, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from skylock.client import Client
from skylock.config import load_config
from tests.integration.cluster import wait_until
from tests.integration.launcher import ROOT, StartCluster


def test_start_cluster_elects_a_leader_serves_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    cluster = StartCluster(tmp_path)
    try:
        cluster.wait_leader()
        node_lines = [line for line in cluster.lines if re.match(r"node \d: pid \d+ ", line)]
        assert len(node_lines) == 3, cluster.lines
        pids = [int(re.match(r"node \d: pid (\d+)", line).group(1)) for line in node_lines]  # type: ignore[union-attr]
        assert set(pids) <= set(_children_of(cluster.proc.pid)), "the printed PIDs are the node processes"
        with Client(cluster.servers) as client:
            client.create("/hello", b"world")
            assert client.get("/hello")[0] == b"world"
            assert sum(n["reachable"] for n in client.status()["nodes"]) == 3
        assert cluster.interrupt() == 0
        out = cluster.output_after_exit()
        assert out.count("stopped (exit 0)") == 3, out
        wait_until(lambda: not _children_of(cluster.proc.pid), timeout=10, what="no node process left")
    finally:
        cluster.close()


def test_a_node_that_exits_is_reported_the_others_serve_and_it_restarts_as_printed(tmp_path: Path) -> None:
    cluster = StartCluster(tmp_path)
    restarted: subprocess.Popen[bytes] | None = None
    try:
        cluster.wait_leader()
        line = cluster.wait_line(lambda text: text.startswith("node 2: pid "))
        pid = int(line.split()[3])
        os.kill(pid, signal.SIGKILL)
        exited = cluster.wait_line(lambda text: text.startswith("node 2 ") and "exited" in text)
        assert f"node 2 (pid {pid}) exited with code -9 (SIGKILL)" in exited, exited
        assert "the other nodes keep running" in exited
        command = exited.split("Restart it with: ", 1)[1]
        assert command.startswith("skylock serve --config "), command
        assert cluster.proc.poll() is None, "start_cluster.py keeps running"
        with Client(cluster.servers, request_timeout=15.0) as client:
            client.create("/after-crash", b"still serving")
            # the printed command brings the node back (``skylock`` is this Python's entry point)
            argv = [sys.executable, "-m", "skylock.cli", *shlex.split(command)[1:], "--log-level", "warning"]
            restarted = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            def node2_back() -> bool:
                nodes = {n["id"]: n for n in client.status()["nodes"]}
                return bool(nodes[2]["reachable"]) and nodes[2]["applied"] >= nodes[1]["applied"] > 0

            wait_until(node2_back, timeout=30, what="node 2 to rejoin and catch up")
        assert cluster.interrupt() != 0, "a node died: start_cluster.py says so in its exit status"
    finally:
        if restarted is not None:
            restarted.terminate()
            restarted.wait(timeout=15)
        cluster.close()


def test_http_ports_are_8080_8081_8082_like_generated_layouts() -> None:
    """configs/node1..3.yaml agree with ``--nodes N`` (HTTP on 8080+i): no gap at 8081."""
    for i in (1, 2, 3):
        cfg = load_config(ROOT / "configs" / f"node{i}.yaml")
        assert [m.http_port for m in cfg.cluster.members] == [8080, 8081, 8082]
        assert cfg.me.http_port == 8079 + i


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found
