"""A real local cluster for tests: one `skylock serve` process per node, on
free loopback ports, with its data in a temporary directory. Nodes can be
stopped, killed with SIGKILL, paused and restarted; every process is stopped
when the test ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, TypeVar

from skylock.client import Client
from skylock.errors import NoLeader, SkyLockError
from skylock.layout import free_ports, local_cluster

T = TypeVar("T")

#: Fast timings so failover tests finish quickly; still several heartbeats per election timeout.
TEST_SECTIONS: dict[str, dict[str, Any]] = {
    "raft": {"heartbeat_interval": "50ms", "election_timeout_min": "300ms", "election_timeout_max": "600ms"},
    "session": {"check_interval": "50ms", "min_ttl": "500ms"},
}


def wait_until(fn: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.05, what: str = "condition") -> T:
    """Poll ``fn`` until it returns a truthy value (errors count as not yet); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except (SkyLockError, AssertionError) as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error!r})")


def holds_for(fn: Callable[[], object], *, duration: float, interval: float = 0.1, what: str = "condition") -> None:
    """Check that ``fn`` stays truthy for ``duration`` seconds (e.g. a session outliving its TTL)."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        assert fn(), f"{what} stopped holding"
        time.sleep(interval)


@contextmanager
def running_cluster(root: Path, **kwargs: Any) -> Iterator["LocalCluster"]:
    """A started cluster with an elected leader, stopped on exit (the tests' fixtures)."""
    cluster = LocalCluster(root, **kwargs)
    cluster.start()
    try:
        cluster.leader()
        cluster.serving_local_reads()
        yield cluster
    finally:
        cluster.close()


def _stopped(pid: int) -> bool:
    """Every thread of ``pid`` is in the stopped state (Linux: ``T`` in /proc/PID/task/*/stat)."""
    try:
        states = [Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                  for tid in os.listdir(f"/proc/{pid}/task")]
    except (OSError, IndexError):
        return True  # gone: stopped for good
    return all(state in ("T", "t") for state in states)


class LocalCluster:
    def __init__(self, root: Path, nodes: int = 3, sections: dict[str, dict[str, Any]] | None = None,
                 token: str | None = None, secure: bool = False) -> None:
        """``secure``: secure mode (CURVE, HTTPS, a root token); ``client()`` then uses
        ``root/credentials.yaml``, as ``credentials`` tells."""
        self.root = root
        #: the token its clients send unless told otherwise (a secure cluster's root token)
        self.token = token
        self.credentials = root / "credentials.yaml" if secure else None
        self.size = nodes
        merged = {k: dict(v) for k, v in TEST_SECTIONS.items()}
        for key, values in (sections or {}).items():
            merged.setdefault(key, {}).update(values)
        ports = free_ports(3 * nodes)
        self.client_ports = ports[:nodes]
        self.configs = local_cluster(
            nodes, root, client_ports=self.client_ports, peer_ports=ports[nodes:2 * nodes],
            http_ports=ports[2 * nodes:], sections=merged, secure=secure,
        )
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self._clients: list[Client] = []
        self._node_clients: dict[int, Client] = {}

    @property
    def servers(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.client_ports]

    def address(self, node_id: int) -> str:
        return self.servers[node_id - 1]

    def start(self, node_id: int | None = None) -> None:
        for nid in [node_id] if node_id else range(1, self.size + 1):
            log = open(self.root / f"node{nid}.log", "ab")
            self.procs[nid] = subprocess.Popen(
                self.command(nid),
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            log.close()

    def command(self, node_id: int) -> list[str]:
        """The argv that runs node ``node_id``; subclasses wrap it (e.g. in a network namespace)."""
        return [sys.executable, "-m", "skylock.cli", "serve", "--config", str(self.configs[node_id - 1]),
                "--log-level", "info"]

    def kill(self, node_id: int) -> None:
        """SIGKILL: the node gets no chance to flush or say goodbye."""
        proc = self.procs.pop(node_id)
        proc.kill()
        proc.wait()

    def stop(self, node_id: int) -> None:
        proc = self.procs.pop(node_id)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def pause(self, node_id: int) -> None:
        """SIGSTOP, and wait until every thread of the node has stopped: until then (a loaded
        machine may not schedule it for milliseconds) a thread already running still works."""
        proc = self.procs[node_id]
        proc.send_signal(signal.SIGSTOP)
        wait_until(lambda: _stopped(proc.pid), timeout=10, interval=0.005, what=f"node {node_id} to stop")

    def resume(self, node_id: int) -> None:
        self.procs[node_id].send_signal(signal.SIGCONT)

    def close(self) -> None:
        for client in self._clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass
        for nid in list(self.procs):
            self.procs[nid].send_signal(signal.SIGCONT)
            self.stop(nid)

    # ---- talking to it ----------------------------------------------------------------

    def client(self, *servers: str, **kwargs: Any) -> Client:
        kwargs.setdefault("request_timeout", 10.0)
        kwargs.setdefault("attempt_timeout", 1.0)
        kwargs.setdefault("token", self.token)
        kwargs.setdefault("credentials", self.credentials)
        client = Client(list(servers) or self.servers, **kwargs)
        self._clients.append(client)
        return client

    def node_client(self, node_id: int) -> Client:
        """A client bound to one node only (shared; no session), for probing that node."""
        if node_id not in self._node_clients:
            self._node_clients[node_id] = self.client(self.address(node_id), request_timeout=2.0, attempt_timeout=0.5)
        return self._node_clients[node_id]

    def leader(self, timeout: float = 15.0, among: list[int] | None = None) -> int:
        """Wait until the live nodes agree on one leader; return its id."""
        ids = among or sorted(self.procs)

        def agreed() -> int:
            leaders = set()
            for nid in ids:
                info = self.node_client(nid).call("cluster.leader")
                leaders.add(int(info["leader_id"]))
            return leaders.pop() if len(leaders) == 1 and leaders <= set(ids) else 0

        return wait_until(agreed, timeout=timeout, what="one agreed leader")

    def serving_local_reads(self, timeout: float = 15.0) -> None:
        """Wait until every live node has caught up with the leader once since it started
        (before that its local reads answer NoLeader, by design)."""

        def all_serving() -> bool:
            for nid in sorted(self.procs):
                try:
                    self.node_client(nid).exists("/", consistency="local")
                except NoLeader:
                    return False
            return True

        wait_until(all_serving, timeout=timeout, what="every node to serve local reads")

    def state_hashes(self) -> dict[int, tuple[int, str]]:
        """Each live node's (applied zxid, state hash), read locally."""
        out = {}
        for nid in sorted(self.procs):
            r = self.node_client(nid).call("debug.state_hash")
            out[nid] = (int(r["applied"]), str(r["hash"]))
        return out

    def wait_converged(self, timeout: float = 15.0) -> str:
        """Wait until every live node applied the same index with the same state hash."""

        def same() -> str:
            hashes = self.state_hashes()
            return next(iter(hashes.values()))[1] if len(set(hashes.values())) == 1 else ""

        return wait_until(same, timeout=timeout, what="all nodes to reach the same state hash")
