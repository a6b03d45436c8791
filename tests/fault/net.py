"""The two ways the nemesis cuts and degrades links between nodes.

``NetnsNetwork`` (preferred, needs root): every node runs in its own network
namespace with its own address in a private /24 of 10.77.0.0/16 that exists only
on a bridge this run creates; partitions are iptables DROP rules inside the node
namespaces, delay and loss are ``tc netem`` on the node's interface, for traffic
to its peers only (loss only, by iptables' statistic match, on kernels without netem) (clients reach nodes from the root namespace through the bridge).

``FilterNetwork`` (fallback): nodes on loopback, each started with the test-only
``skylock serve --fault-control FILE``; the nemesis writes which peers a node must
not talk to (and a loss rate) into that file. It cannot add delay.

Both expose ``block(pairs)`` (exactly these node pairs cannot talk), ``degrade``
and ``heal``; everything created is removed by ``close`` (also after a failure).

Both clusters run in open or secure mode (``secure=True``: CURVE on every ZeroMQ
socket, HTTPS, a root token that the suite's clients read from ``credentials.yaml``).
Neither fault mechanism looks inside a frame, so faults act the same in both modes.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

from skylock.config import write_config
from skylock.security import prepare_secure_cluster
from tests.integration.cluster import LocalCluster

Pair = frozenset[int]
CLIENT_PORT, PEER_PORT, HTTP_PORT = 7001, 7101, 7201
_LOCK = Path("/tmp/skylock-fault-netns.lock")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=10)


def netns_available() -> str | None:
    """None if namespaces + iptables + tc work here; otherwise why not."""
    if os.geteuid() != 0:
        return "not root"
    for tool in ("ip", "tc", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    probe = f"slprobe{secrets.token_hex(3)}"
    try:
        if _ip("netns", "add", probe, check=False).returncode != 0:
            return "ip netns add failed"
        r = subprocess.run(["ip", "netns", "exec", probe, "iptables", "-L", "-n"], capture_output=True, timeout=10)
        return None if r.returncode == 0 else "iptables does not work in a namespace"
    finally:
        _ip("netns", "del", probe, check=False)


class NetnsNetwork:
    mechanism = "netns"

    def __init__(self, size: int) -> None:
        self.size = size
        self.run = secrets.token_hex(3)
        self.bridge = f"slb{self.run}"
        self.ns = {i: f"skylock-{self.run}-{i}" for i in range(1, size + 1)}
        self.subnet = 0
        self.netem: bool | None = None  # probed on first use: some kernels lack sch_netem
        self._pairs: set[Pair] = set()
        self._loss = 0.0
        self._created: list[tuple[str, ...]] = []

    def ip_of(self, node_id: int) -> str:
        return f"10.77.{self.subnet}.{node_id}"

    def setup(self) -> None:
        with open(_LOCK, "w") as lock:  # parallel runs must not pick the same subnet
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = _ip("-4", "-o", "addr", "show").stdout
            free = [k for k in range(1, 255) if f"10.77.{k}." not in used]
            self.subnet = random.choice(free)
            _ip("link", "add", self.bridge, "type", "bridge")
            self._created.append(("link", "del", self.bridge))
            _ip("addr", "add", f"10.77.{self.subnet}.254/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i, ns in self.ns.items():
            host, inner = f"sl{self.run}h{i}", f"sl{self.run}n{i}"
            _ip("netns", "add", ns)
            self._created.append(("netns", "del", ns))
            _ip("link", "add", host, "type", "veth", "peer", "name", inner)
            self._created.append(("link", "del", host))
            _ip("link", "set", inner, "netns", ns)
            _ip("link", "set", host, "master", self.bridge, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", inner, "name", "eth0")
            _ip("-n", ns, "addr", "add", f"{self.ip_of(i)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def close(self) -> None:
        for args in reversed(self._created):
            _ip(*args, check=False)
        self._created.clear()

    def _exec(self, node_id: int, *argv: str) -> None:
        subprocess.run(["ip", "netns", "exec", self.ns[node_id], *argv], check=True, capture_output=True, timeout=10)

    def _probe_netem(self) -> bool:
        ns = self.ns[1]
        r = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "root", "netem",
                            "delay", "1ms"], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "eth0", "root"],
                       capture_output=True, timeout=10)
        return r.returncode == 0

    def _apply(self) -> None:
        """Rewrite every node's iptables rules: DROP for blocked pairs, random DROP for loss."""
        for i in self.ns:
            self._exec(i, "iptables", "-F")
            for j in self.ns:
                if j == i:
                    continue
                peer = self.ip_of(j)
                if frozenset({i, j}) in self._pairs:
                    self._exec(i, "iptables", "-A", "INPUT", "-s", peer, "-j", "DROP")
                    self._exec(i, "iptables", "-A", "OUTPUT", "-d", peer, "-j", "DROP")
                elif self._loss > 0:
                    self._exec(i, "iptables", "-A", "OUTPUT", "-d", peer, "-m", "statistic", "--mode", "random",
                               "--probability", f"{self._loss:.3f}", "-j", "DROP")

    def block(self, pairs: set[Pair]) -> None:
        self._pairs = set(pairs)
        self._apply()

    def degrade(self, delay_ms: int, jitter_ms: int, loss_pct: float) -> str:
        """Delay and loss on peer links: tc netem on each node's egress to its peers (band 4 of a
        prio qdisc, chosen by destination) when the kernel has netem; otherwise loss only, with
        iptables' statistic match. Returns which mechanism was used."""
        self.clear_netem()
        if self.netem is None:
            self.netem = self._probe_netem()
        if not self.netem:
            self._loss = loss_pct / 100.0
            self._apply()
            return "iptables-statistic-loss"
        for i in self.ns:
            self._exec(i, "tc", "qdisc", "add", "dev", "eth0", "root", "handle", "1:", "prio", "bands", "4")
            self._exec(i, "tc", "qdisc", "add", "dev", "eth0", "parent", "1:4", "handle", "40:", "netem",
                       "delay", f"{delay_ms}ms", f"{jitter_ms}ms", "loss", f"{loss_pct}%")
            for j in self.ns:
                if j != i:
                    self._exec(i, "tc", "filter", "add", "dev", "eth0", "parent", "1:", "protocol", "ip", "prio",
                               "1", "u32", "match", "ip", "dst", f"{self.ip_of(j)}/32", "flowid", "1:4")
        return "tc-netem"

    def clear_netem(self) -> None:
        if self.netem:
            for ns in self.ns.values():
                subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "eth0", "root"],
                               capture_output=True, timeout=10)

    def heal(self) -> None:
        self._pairs, self._loss = set(), 0.0
        self._apply()
        self.clear_netem()


class FilterNetwork:
    mechanism = "filter"

    def __init__(self, root: Path, size: int) -> None:
        self.size = size
        self.files = {i: root / f"faults-node{i}.json" for i in range(1, size + 1)}
        self._loss = 0.0
        self._pairs: set[Pair] = set()

    def setup(self) -> None:
        self._write()

    def close(self) -> None:
        for f in self.files.values():
            f.unlink(missing_ok=True)

    def _write(self) -> None:
        for i, f in self.files.items():
            blocked = sorted(next(iter(p - {i})) for p in self._pairs if i in p)
            tmp = f.with_suffix(".tmp")
            tmp.write_text(json.dumps({"blocked": blocked, "loss": self._loss}))
            tmp.replace(f)  # atomic: a node never reads half a file

    def block(self, pairs: set[Pair]) -> None:
        self._pairs = set(pairs)
        self._write()

    def degrade(self, delay_ms: int, jitter_ms: int, loss_pct: float) -> str:
        self._loss = loss_pct / 100.0  # no delay without namespaces
        self._write()
        return "transport-filter-loss"

    def heal(self) -> None:
        self._pairs, self._loss = set(), 0.0
        self._write()


def member(net: NetnsNetwork, node_id: int) -> dict[str, Any]:
    """How the cluster knows the node in namespace ``node_id``: its advertised addresses."""
    return {"id": node_id, "peer_address": f"{net.ip_of(node_id)}:{PEER_PORT}",
            "client_address": f"{net.ip_of(node_id)}:{CLIENT_PORT}", "http_port": HTTP_PORT}


class NetnsCluster(LocalCluster):
    """LocalCluster whose nodes each live in their own namespace at 10.77.K.<id>."""

    def __init__(self, root: Path, net: NetnsNetwork, sections: dict[str, dict[str, Any]] | None = None,
                 secure: bool = False, nodes: int | None = None) -> None:
        """``secure``: keys, certificates and the root token are made for the namespace
        addresses (each node's certificate names its 10.77.K.id), not the loopback ones
        the base class would use; clients then use ``root/credentials.yaml``. ``nodes``: the
        members (the first namespaces; the others are spare machines, e.g. to join later)."""
        nodes = nodes or net.size
        super().__init__(root, nodes, sections)
        self.net = net
        members = [member(net, i) for i in range(1, nodes + 1)]
        per_node: dict[int, dict[str, dict[str, Any]]] = {}
        if secure:
            made = prepare_secure_cluster(root, members)
            per_node, self.credentials = made.sections, made.credentials_path
        import yaml

        for i, path in enumerate(self.configs, start=1):
            cfg = yaml.safe_load(path.read_text())
            cfg["cluster"] = {"node_id": i, "members": members}
            for name, values in per_node.get(i, {}).items():
                cfg.setdefault(name, {}).update(values)
            write_config(cfg, path)

    @property
    def servers(self) -> list[str]:
        return [f"{self.net.ip_of(i)}:{CLIENT_PORT}" for i in range(1, self.size + 1)]

    def command(self, node_id: int) -> list[str]:
        return ["ip", "netns", "exec", self.net.ns[node_id], *super().command(node_id)]


class FilterCluster(LocalCluster):
    """LocalCluster on loopback whose nodes obey a fault-control file each."""

    def __init__(self, root: Path, net: FilterNetwork, sections: dict[str, dict[str, Any]] | None = None,
                 secure: bool = False) -> None:
        super().__init__(root, net.size, sections, secure=secure)
        self.net = net

    def command(self, node_id: int) -> list[str]:
        return [*super().command(node_id), "--fault-control", str(self.net.files[node_id])]
