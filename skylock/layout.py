"""Configs for a cluster of nodes on this machine (start_cluster.py, tests, bench)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from skylock.config import write_config


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports the OS reports free now (held open together so they are distinct)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


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
