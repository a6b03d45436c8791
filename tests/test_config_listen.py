"""Listen vs advertise: ``server.listen_*`` choose where a node binds, ``cluster.members``
what the others are told. Unset, a node binds what it advertises (every shipped config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skylock.config import ConfigError, load_config, write_config
from skylock.net.address import local_address
from tests.test_config import load_text as load

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

MEMBERS = """
cluster:
  node_id: 2
  members:
    - {id: 1, peer_address: "db1.example:7101", client_address: "db1.example:7001", http_port: 8080}
    - {id: 2, peer_address: "db2.example:7101", client_address: "db2.example:7001", http_port: 8080}
"""


@pytest.mark.parametrize("name", ["node1.yaml", "node2.yaml", "node3.yaml", "single.yaml"])
def test_shipped_configs_listen_where_they_advertise(name: str) -> None:
    cfg = load_config(CONFIGS / name)
    assert cfg.listen_client == cfg.me.client_address
    assert cfg.listen_peer == cfg.me.peer_address
    assert cfg.listen_http == f"127.0.0.1:{cfg.me.http_port}"


def test_listen_addresses_are_separate_from_the_advertised_ones(tmp_path: Path) -> None:
    cfg = load(tmp_path, MEMBERS + """
server:
  listen_client: 0.0.0.0:7001
  listen_peer: 0.0.0.0:7101
  listen_http: 0.0.0.0:9090
""")
    assert (cfg.listen_client, cfg.listen_peer, cfg.listen_http) == ("0.0.0.0:7001", "0.0.0.0:7101", "0.0.0.0:9090")
    assert cfg.me.client_address == "db2.example:7001" and cfg.peers == {1: "db1.example:7101"}


def test_http_listens_on_the_client_listen_host_by_default(tmp_path: Path) -> None:
    cfg = load(tmp_path, MEMBERS + "server: {listen_client: '0.0.0.0:7001'}\n")
    assert cfg.listen_http == "0.0.0.0:8080"
    assert cfg.listen_peer == "db2.example:7101"


def test_listen_addresses_round_trip_and_default_to_unset(tmp_path: Path) -> None:
    cfg = load(tmp_path, MEMBERS + "server: {listen_peer: '0.0.0.0:7101'}\n")
    assert cfg.to_dict()["server"]["listen_client"] == ""
    write_config(cfg, tmp_path / "out.yaml")
    assert load_config(tmp_path / "out.yaml").listen_peer == "0.0.0.0:7101"


@pytest.mark.parametrize("key", ["listen_client", "listen_peer", "listen_http"])
def test_a_bad_listen_address_names_its_key(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError, match=f"server.{key}: expected 'host:port'"):
        load(tmp_path, MEMBERS + f"server: {{{key}: '0.0.0.0'}}\n")


def test_a_local_client_reaches_a_wildcard_bind_through_loopback() -> None:
    assert local_address("0.0.0.0:7001") == "127.0.0.1:7001"
    assert local_address("10.0.0.5:7001") == "10.0.0.5:7001"
