"""Nodes on separate hosts: each node in its own network namespace with its own address,
listening on 0.0.0.0 and advertising that address, and a client from outside reaching all
of them (docs/DEPLOY.md describes the same layout on three machines); then a fourth machine
joins with ``member add`` and ``serve --join``.

Where namespaces are unavailable (not root, no ``ip``), or with
``SKYLOCK_FAULT_MECHANISM=filter``, it falls back like the rest of this suite, and says so: all nodes on one host, listening on 127.0.0.1 and advertising the name
``localhost``, which still proves that what a node binds and what it advertises are kept
apart, but not that they work across machines.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from skylock.config import load_config, write_config
from skylock.layout import free_ports
from tests.fault.conftest import MECHANISM
from tests.fault.net import CLIENT_PORT, HTTP_PORT, PEER_PORT, NetnsCluster, NetnsNetwork, member
from tests.http.rest import Rest
from tests.integration.cluster import LocalCluster, wait_until

def _set_server_keys(path: Path, values: dict[str, str]) -> None:
    cfg = yaml.safe_load(path.read_text())
    cfg.setdefault("server", {}).update(values)
    write_config(cfg, path)


class HostsCluster(NetnsCluster):
    """One namespace per node at 10.77.K.<id>; each node binds 0.0.0.0 and advertises 10.77.K.<id>."""

    LISTEN = {"listen_client": f"0.0.0.0:{CLIENT_PORT}", "listen_peer": f"0.0.0.0:{PEER_PORT}",
              "listen_http": f"0.0.0.0:{HTTP_PORT}"}

    def __init__(self, root: Path, net: NetnsNetwork) -> None:
        super().__init__(root, net, nodes=net.size - 1)  # the last namespace: a machine that joins later
        for path in self.configs:
            _set_server_keys(path, self.LISTEN)

    def joiner(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The spare machine: how it is advertised, and where it listens."""
        return member(self.net, self.net.size), self.LISTEN

    def http(self, node_id: int) -> Rest:
        return Rest(HTTP_PORT, host=self.net.ip_of(node_id))

    def listening(self, node_id: int) -> str:
        """The node's listening TCP sockets, as ``ss`` sees them inside its namespace."""
        return subprocess.run(["ip", "netns", "exec", self.net.ns[node_id], "ss", "-ltnH"], check=True,
                              capture_output=True, text=True, timeout=10).stdout


class LoopbackCluster(LocalCluster):
    """The fallback: every node binds 127.0.0.1 and advertises ``localhost`` on the same ports."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        for path in self.configs:
            cfg = yaml.safe_load(path.read_text())
            me = next(m for m in cfg["cluster"]["members"] if m["id"] == cfg["cluster"]["node_id"])
            cfg["server"] = {**cfg.get("server", {}), "listen_client": me["client_address"],
                             "listen_peer": me["peer_address"], "listen_http": f"127.0.0.1:{me['http_port']}"}
            for m in cfg["cluster"]["members"]:
                m["client_address"] = m["client_address"].replace("127.0.0.1", "localhost")
                m["peer_address"] = m["peer_address"].replace("127.0.0.1", "localhost")
            write_config(cfg, path)

    @property
    def servers(self) -> list[str]:
        return [f"localhost:{p}" for p in self.client_ports]

    def joiner(self) -> tuple[dict[str, Any], dict[str, str]]:
        peer, client, http = free_ports(3)
        return ({"id": 4, "peer_address": f"localhost:{peer}", "client_address": f"localhost:{client}",
                 "http_port": http},
                {"listen_client": f"127.0.0.1:{client}", "listen_peer": f"127.0.0.1:{peer}",
                 "listen_http": f"127.0.0.1:{http}"})

    def http(self, node_id: int) -> Rest:
        return Rest(load_config(self.configs[node_id - 1]).me.http_port)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("separate-hosts")
    net = None
    if MECHANISM != "netns":
        print("without network namespaces: nodes on loopback, listening on 127.0.0.1, advertising 'localhost'")
        cluster: Any = LoopbackCluster(root)
    else:
        net = NetnsNetwork(4)
        net.setup()
        cluster = HostsCluster(root, net)
    try:
        cluster.start()
        cluster.leader(timeout=30)
        yield cluster
    finally:
        cluster.close()
        if net is not None:
            net.close()


def test_nodes_bind_one_address_and_advertise_another(hosts: Any) -> None:
    status = hosts.node_client(1).status()
    advertised = {n["id"]: n["client_address"] for n in status["nodes"]}
    assert advertised == {i: hosts.servers[i - 1] for i in (1, 2, 3)}
    assert all(n["reachable"] for n in status["nodes"]), status
    if isinstance(hosts, HostsCluster):
        for node_id in (1, 2, 3):
            bound = hosts.listening(node_id)
            for port in (CLIENT_PORT, PEER_PORT, HTTP_PORT):
                assert f"0.0.0.0:{port} " in bound, (node_id, port, bound)
            assert hosts.net.ip_of(node_id) not in bound  # not bound on the advertised address itself


def test_a_client_writes_and_reads_through_every_node(hosts: Any) -> None:
    for node_id in (1, 2, 3):
        hosts.node_client(node_id).create(f"/hosts-{node_id}", f"via node {node_id}".encode())
    for node_id in (1, 2, 3):
        reader = hosts.node_client(node_id)
        assert reader.get("/hosts-3")[0] == b"via node 3"  # linearizable: through the leader's ReadIndex
        assert {"hosts-1", "hosts-2", "hosts-3"} <= set(reader.children("/"))
    seeded = hosts.client()  # the SDK given every advertised address, as an application would be
    assert seeded.get("/hosts-1")[0] == b"via node 1"


def test_every_node_answers_http_on_its_advertised_address(hosts: Any) -> None:
    for node_id in (1, 2, 3):
        rest = hosts.http(node_id)
        wait_until(lambda: rest.get("/health").status == 200, what=f"node {node_id} healthy over HTTP")
        answer = rest.get("/v1/nodes/hosts-1")
        assert answer.status == 200, answer


def test_a_fourth_machine_joins_with_member_add_and_serve_join(hosts: Any) -> None:
    """``member add`` on the cluster, then ``serve --join`` on the new machine (binding 0.0.0.0,
    advertising its own address): it catches up, is promoted, and takes writes."""
    writer = hosts.client()
    writer.create("/before-the-join", b"old")
    me, listen = hosts.joiner()
    cfg = yaml.safe_load(hosts.configs[2].read_text())
    cfg["cluster"] = {"node_id": 4, "members": cfg["cluster"]["members"] + [me]}
    cfg["storage"]["data_dir"] = str(hosts.root / "node4")
    cfg.setdefault("server", {}).update(listen)
    path = hosts.root / "node4.yaml"
    write_config(cfg, path)
    hosts.configs.append(path)
    added = writer.call("member.add", id=4, peer_address=me["peer_address"], client_address=me["client_address"],
                        http_port=me["http_port"])
    assert {m["id"]: m["role"] for m in added["members"]}[4] == "learner"
    with open(hosts.root / "node4.log", "ab") as log:
        hosts.procs[4] = subprocess.Popen([*hosts.command(4), "--join"], stdout=log, stderr=subprocess.STDOUT,
                                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    node4 = hosts.client(me["client_address"], request_timeout=2.0, attempt_timeout=0.5)
    wait_until(lambda: node4.get("/before-the-join", consistency="local")[0] == b"old", timeout=30,
               what="the new machine to catch up")
    promoted = writer.call("member.promote", id=4)
    assert {m["id"]: m["role"] for m in promoted["members"]}[4] == "voter"
    node4.create("/through-the-new-machine", b"new")
    assert writer.get("/through-the-new-machine")[0] == b"new"
