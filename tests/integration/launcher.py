"""`python start_cluster.py` as a user runs it, for tests: on free ports (``--base-port``),
its output read line by line by a thread so a test can wait for a line with a deadline."""

from __future__ import annotations

import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from skylock.layout import port_range

ROOT = Path(__file__).resolve().parents[2]


def ephemeral_floor() -> int:
    """The lowest port the kernel hands to outgoing connections (Linux: 32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_base_port() -> int:
    """A base port whose +0..2, +100..102 and +200..202 are all free right now, below the
    ephemeral range: a port there could be taken by any outgoing connection on this machine
    between this check and the node's bind (as once happened to node 1's HTTP port)."""
    rng = random.Random()
    lo, hi = port_range() or (10000, min(ephemeral_floor(), 65536))
    for _ in range(200):
        base = rng.randrange(lo, hi - 300)
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


class StartCluster:
    """One ``start_cluster.py`` process with a generated 3-node layout at ``base`` (clients
    base..base+2, HTTP base+200..base+202) and its data under ``data_dir``."""

    def __init__(self, data_dir: Path, base: int | None = None, *extra_args: str) -> None:
        self.base = base or free_base_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "start_cluster.py"), "--base-port", str(self.base),
             "--data-dir", str(data_dir), "--log-level", "warning", *extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=data_dir,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    @property
    def servers(self) -> list[str]:
        return [f"127.0.0.1:{self.base + i}" for i in range(3)]

    @property
    def http_port(self) -> int:
        """Node 1's REST port (the README's localhost:8080)."""
        return self.base + 200

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._new.put(line.rstrip("\n"))
        self._new.put(None)

    def wait_line(self, match: Callable[[str], bool], timeout: float = 60.0) -> str:
        """The first line from now on (or already read) that ``match`` accepts."""
        for line in self.lines:
            if match(line):
                return line
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no such line from start_cluster.py in {timeout}s: {self.lines}") from None
            if line is None:
                raise AssertionError(f"start_cluster.py exited (code {self.proc.wait()}): {self.lines}")
            self.lines.append(line)
            if match(line):
                return line

    def output_so_far(self) -> str:
        """Every line printed until now (for failure messages)."""
        while True:
            try:
                line = self._new.get_nowait()
            except queue.Empty:
                return "\n".join(self.lines)
            if line is None:
                self._new.put(None)
                return "\n".join(self.lines)
            self.lines.append(line)

    def wait_leader(self) -> str:
        return self.wait_line(lambda line: line.startswith("leader:"))

    def interrupt(self, timeout: float = 30.0) -> int:
        """Ctrl-C; returns the exit status once start_cluster.py has stopped its nodes and exited."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=timeout)

    def output_after_exit(self) -> str:
        """Every line, once the process has exited (the reader thread drains what is left)."""
        while True:
            line = self._new.get(timeout=10)
            if line is None:
                self._new.put(None)
                return "\n".join(self.lines)
            self.lines.append(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
