"""A throwaway 3-node cluster for the bench scripts: free loopback ports, a temporary data
directory, one ``skylock serve`` process per node started by a command of the caller's
(so a script can wrap a node, e.g. to trace it), stopped on exit."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from skylock.client import Client
from skylock.errors import SkyLockError
from skylock.layout import free_ports, local_cluster


@dataclass
class BenchCluster:
    root: Path
    servers: list[str]
    procs: list[subprocess.Popen]
    leader: int
    #: each node's HTTP port (its ``/metrics``), node 1 first
    http_ports: list[int]

    @property
    def pids(self) -> dict[int, int]:
        return {i + 1: p.pid for i, p in enumerate(self.procs)}

    def stop(self) -> None:
        """Stop every node and wait for it (so what it wrote is complete); again is a no-op."""
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            p.wait()


@contextmanager
def bench_cluster(command: Callable[[int, Path, Path], list[str]]) -> Iterator[BenchCluster]:
    """``command(node_id, config_path, root)`` is the argv that serves that node."""
    with tempfile.TemporaryDirectory(prefix="skylock-bench-") as tmp:
        root = Path(tmp)
        ports = free_ports(9)
        configs = local_cluster(3, root, client_ports=ports[:3], peer_ports=ports[3:6], http_ports=ports[6:])
        servers = [f"127.0.0.1:{p}" for p in ports[:3]]
        cluster = BenchCluster(root, servers, [subprocess.Popen(command(i + 1, cfg, root))
                                               for i, cfg in enumerate(configs)], leader=0, http_ports=ports[6:])
        try:
            cluster.leader = wait_for_leader(servers)
            yield cluster
        finally:
            cluster.stop()


def wait_for_leader(servers: list[str], timeout: float = 30.0) -> int:
    with Client(servers) as probe:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return int(probe.leader()["leader_id"])
            except SkyLockError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
