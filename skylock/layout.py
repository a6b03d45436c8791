"""Configs for a cluster of nodes on this machine (start_cluster.py, tests, bench)."""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from skylock.config import write_config


#: "LO-HI": pick ports in [LO, HI) only (each parallel test worker gets a range of its own, so
#: two workers never pick the same port between choosing it and a node binding it)
PORTS_ENV = "SKYLOCK_PORTS"


def port_range() -> tuple[int, int] | None:
    """The ``SKYLOCK_PORTS`` range, if set."""
    spec = os.environ.get(PORTS_ENV, "")
    if not spec:
        return None
    lo, _, hi = spec.partition("-")
    return int(lo), int(hi)


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports the OS reports free now (held open together so they are distinct): any free ones,
    or within ``SKYLOCK_PORTS`` if it is set."""
    socks: list[socket.socket] = []
    window = port_range()
    try:
        candidates = _shuffled(*window) if window else iter(lambda: 0, None)
        for port in candidates:
            if len(socks) == count:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((host, port))
            except OSError:
                s.close()
                continue
            socks.append(s)
        if len(socks) < count:
            raise OSError(f"no {count} free ports in {os.environ.get(PORTS_ENV)}")
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _shuffled(lo: int, hi: int) -> Iterator[int]:
    """Every port of [lo, hi) once, from a random start (so runs do not reuse the same ports)."""
    start = random.randrange(lo, hi)
    yield from range(start, hi)
    yield from range(lo, start)


def local_cluster(
    nodes: int,
    data_dir: Path,
    *,
    peer_ports: list[int],
    client_ports: list[int],
    http_ports: list[int],
    host: str = "127.0.0.1",
    sections: dict[str, dict[str, Any]] | None = None,
    secure: bool = False,
) -> list[Path]:
    """Write ``node{i}.yaml`` for ``nodes`` members under ``data_dir``; returns their paths.

    ``sections`` adds settings to every config, e.g. ``{"session": {"check_interval": "50ms"}}``.
    ``secure``: secure mode, with keys, certificates, a root token and ``credentials.yaml``
    made in ``data_dir`` (or reused from an earlier run: see ``skylock.security``).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    members = [
        {"id": i + 1, "peer_address": f"{host}:{peer_ports[i]}", "client_address": f"{host}:{client_ports[i]}",
         "http_port": http_ports[i]}
        for i in range(nodes)
    ]
    per_node: dict[int, dict[str, dict[str, Any]]] = {}
    if secure:
        from skylock.security import prepare_secure_cluster

        per_node = prepare_secure_cluster(data_dir, members).sections
    paths = []
    for i in range(nodes):
        cfg: dict[str, Any] = {k: dict(v) for k, v in (sections or {}).items()}
        for name, values in per_node.get(i + 1, {}).items():
            cfg.setdefault(name, {}).update(values)
        cfg["cluster"] = {"node_id": i + 1, "members": members}
        # relative to the config file, which sits in data_dir: node{i}/ beside node{i}.yaml
        cfg.setdefault("storage", {})["data_dir"] = f"./node{i + 1}"
        path = data_dir / f"node{i + 1}.yaml"
        write_config(cfg, path)
        paths.append(path)
    return paths
