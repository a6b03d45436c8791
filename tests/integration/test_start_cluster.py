"""start_cluster.py as a user runs it: prints the nodes and the leader, serves, and
stops cleanly on Ctrl-C (exit 0, no node process left)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from skylock.client import Client
from tests.integration.cluster import wait_until

ROOT = Path(__file__).resolve().parents[2]


def free_base_port() -> int:
    """A base port whose +0..2, +100..102 and +200..202 are all free right now."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base > 60000:
            continue
        socks = []
        try:
            for port in [base + off + i for off in (0, 100, 200) for i in range(3)]:
                t = socket.socket()
                socks.append(t)
                t.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for t in socks:
                t.close()
    raise AssertionError("no free port range")


def test_start_cluster_elects_a_leader_serves_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    base = free_base_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "start_cluster.py"), "--base-port", str(base), "--data-dir", str(tmp_path),
         "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(line.startswith("leader:") for line in lines):
            line = proc.stdout.readline()
            assert line, f"start_cluster.py exited early: {lines}"
            lines.append(line.strip())
        assert sum(line.startswith("node ") for line in lines) == 3, lines
        with Client([f"127.0.0.1:{base + i}" for i in range(3)]) as client:
            client.create("/hello", b"world")
            assert client.get("/hello")[0] == b"world"
            pids = [int(n["id"]) for n in client.status()["nodes"] if n["reachable"]]
            assert len(pids) == 3
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert out.count("stopped (exit 0)") == 3, out
        wait_until(lambda: not _children_of(proc.pid), timeout=10, what="no node process left")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


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
