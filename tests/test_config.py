"""Config loading: the shipped files, defaults, overrides, and errors that name their key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from skylock.config import (
    ConfigError,
    Member,
    NodeConfig,
    load_config,
    parse_duration,
    parse_size,
    write_config,
)

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"


def load_text(tmp_path: Path, text: str, overrides: dict | None = None) -> NodeConfig:
    path = tmp_path / "node.yaml"
    path.write_text(text)
    return load_config(path, overrides)


def config_error(tmp_path: Path, text: str, overrides: dict | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text, overrides)
    return str(info.value)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_shipped_configs(n):
    cfg = load_config(CONFIGS / f"node{n}.yaml")
    assert cfg.cluster.node_id == n and cfg.me.id == n
    assert [m.id for m in cfg.cluster.members] == [1, 2, 3]
    assert cfg.me.peer_address == f"127.0.0.1:710{n}" and cfg.me.client_address == f"127.0.0.1:700{n}"
    assert cfg.peers == {i: f"127.0.0.1:710{i}" for i in (1, 2, 3) if i != n}
    assert cfg.storage.data_dir == ROOT / "data" / f"node{n}"
    assert cfg.raft.heartbeat_interval == 0.05 and cfg.raft.election_tick == 10 and cfg.raft.heartbeat_tick == 1
    assert cfg.raft.election_tick_max == 20
    assert cfg.server.max_request_size == 2 << 20 and cfg.server.max_data_size == 1 << 20
    assert cfg.server.request_timeout == 6.0
    assert cfg.session.default_ttl == 10.0 and cfg.session.check_interval == pytest.approx(0.1)


def test_node1_serves_http_on_8080_for_the_seed_examples():
    assert load_config(CONFIGS / "node1.yaml").me.http_port == 8080


def test_shipped_single_node_config_is_a_one_member_cluster_with_its_own_data():
    cfg = load_config(CONFIGS / "single.yaml")
    assert cfg.cluster.members == (Member(1, "127.0.0.1:7101", "127.0.0.1:7001", 8080),)
    assert cfg.peers == {} and cfg.me.id == 1
    assert cfg.storage.data_dir == ROOT / "data" / "single"
    assert cfg.storage.data_dir != load_config(CONFIGS / "node1.yaml").storage.data_dir


def test_relative_data_dir_is_relative_to_the_config_file_not_the_cwd(tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "node.yaml").write_text("storage: {data_dir: ./state}\n")
    monkeypatch.chdir(tmp_path)
    assert load_config("etc/node.yaml").storage.data_dir == tmp_path / "etc" / "state"
    monkeypatch.chdir(tmp_path / "etc")
    assert load_config("node.yaml").storage.data_dir == tmp_path / "etc" / "state"
    # the default data dir too; an absolute one is kept
    (tmp_path / "etc" / "n2.yaml").write_text("cluster: {node_id: 2}\n")
    assert load_config(tmp_path / "etc" / "n2.yaml").storage.data_dir == tmp_path / "etc" / "data" / "node2"
    (tmp_path / "etc" / "abs.yaml").write_text(f"storage: {{data_dir: {tmp_path / 'x'}}}\n")
    assert load_config("abs.yaml").storage.data_dir == tmp_path / "x"


def test_data_dir_override_stays_relative_to_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(CONFIGS / "node3.yaml", {"storage.data_dir": "mine/node3"})
    assert cfg.storage.data_dir == Path("mine/node3")


def test_no_file_keeps_the_default_data_dir_relative_to_the_current_directory():
    assert load_config(None).storage.data_dir == Path("./data/node1")


def test_request_timeout_is_a_duration_key(tmp_path):
    assert load_text(tmp_path, "server: {request_timeout: 1500ms}\n").server.request_timeout == 1.5
    assert load_config(None).server.request_timeout == 6.0
    assert config_error(tmp_path, "server: {request_timeout: 0s}").startswith(
        "server.request_timeout: must be greater than zero")


def test_election_timeout_max_reaches_the_core_as_an_exclusive_tick_bound(tmp_path):
    cfg = load_text(tmp_path, "raft: {heartbeat_interval: 50ms, election_timeout_min: 300ms, "
                              "election_timeout_max: 900ms}\n")
    assert (cfg.raft.election_tick, cfg.raft.election_tick_max) == (6, 18)
    # a max closer to the min than one tick still leaves the timeout a range to be drawn from
    cfg = load_text(tmp_path, "raft: {election_timeout_min: 500ms, election_timeout_max: 520ms}\n")
    assert (cfg.raft.election_tick, cfg.raft.election_tick_max) == (10, 11)


def test_no_file_gives_a_single_node_cluster_on_default_ports():
    cfg = load_config(None)
    assert cfg.cluster.members == (Member(1, "127.0.0.1:7101", "127.0.0.1:7001", 8080),)
    assert cfg.peers == {} and cfg.me.id == 1
    assert cfg.raft.pre_vote and cfg.raft.check_quorum and cfg.raft.max_inflight_msgs == 1
    assert cfg.storage.segment_size == 64 << 20 and cfg.storage.fsync
    assert cfg.storage.snapshot_entries == 10000 and cfg.storage.keep_entries == 5000
    assert cfg.storage.snapshot_bytes == 64 << 20 and cfg.storage.keep_bytes == 32 << 20
    assert cfg.storage.watch_history == 100000
    assert (cfg.session.min_ttl, cfg.session.default_ttl, cfg.session.max_ttl) == (1.0, 10.0, 60.0)


def test_log_byte_bounds_are_sizes(tmp_path):
    cfg = load_text(tmp_path, "storage: {snapshot_bytes: 8MiB, keep_bytes: 512KiB}\n")
    assert (cfg.storage.snapshot_bytes, cfg.storage.keep_bytes) == (8 << 20, 512 << 10)
    assert cfg.to_dict()["storage"]["snapshot_bytes"] == "8MiB"


def test_just_a_node_id_is_a_complete_config(tmp_path):
    cfg = load_text(tmp_path, "cluster: {node_id: 4}\n")
    assert cfg.me.id == 4 and cfg.storage.data_dir == tmp_path / "data" / "node4"


def test_empty_file_is_all_defaults_with_data_beside_it(tmp_path):
    cfg = load_text(tmp_path, "")
    assert cfg.storage.data_dir == tmp_path / "data" / "node1"
    defaults = load_config(None)
    assert cfg == NodeConfig(defaults.cluster, defaults.server, defaults.raft, defaults.session,
                             dataclasses.replace(defaults.storage, data_dir=tmp_path / "data" / "node1"))


def test_overrides_use_dotted_keys(tmp_path):
    cfg = load_config(CONFIGS / "node1.yaml", {"cluster.node_id": 2, "storage.data_dir": "/tmp/x",
                                               "raft.heartbeat_interval": "20ms", "raft.pre_vote": "false"})
    assert cfg.me.id == 2 and cfg.storage.data_dir == Path("/tmp/x")
    assert cfg.raft.heartbeat_interval == pytest.approx(0.02) and cfg.raft.election_tick == 25
    assert cfg.raft.pre_vote is False


def test_override_of_an_unknown_key_names_it():
    with pytest.raises(ConfigError, match=r"^raft\.pre_vot: unknown key"):
        load_config(None, {"raft.pre_vot": True})
    with pytest.raises(ConfigError, match=r"^nodeid: an override key"):
        load_config(None, {"nodeid": 2})


def test_to_dict_round_trips_through_write_config(tmp_path):
    cfg = load_config(CONFIGS / "node2.yaml", {"raft.heartbeat_interval": 0.0125, "session.max_ttl": "2h"})
    write_config(cfg.to_dict(), tmp_path / "out.yaml")
    assert load_config(tmp_path / "out.yaml") == cfg
    assert cfg.to_dict()["raft"]["heartbeat_interval"] == "12500us"
    assert cfg.to_dict()["session"]["max_ttl"] == "2h"


@pytest.mark.parametrize(
    "text, expected",
    [("150ms", 0.15), ("10s", 10.0), ("1m", 60.0), ("1h", 3600.0), ("1.5s", 1.5), (2, 2.0), (0.25, 0.25),
     ("250us", 0.00025), ("3", 3.0)],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["fast", "10 parsecs", "", True, None, -1, "-5s", [1]])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    "text, expected",
    [("1MiB", 1 << 20), ("512KiB", 512 << 10), ("2GiB", 2 << 30), ("64MB", 64_000_000), ("100B", 100),
     (4096, 4096), ("1.5KiB", 1536)],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["big", "1.3B", "1 parsec", True, -1, 1.5, None])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


@pytest.mark.parametrize(
    "text, key_and_problem",
    [
        ("raft: {election_timeout_min: fast}",
         "raft.election_timeout_min: expected a duration like '500ms', got 'fast'"),
        ("server: {max_data_size: lots}", "server.max_data_size: expected a size like '1MiB', got 'lots'"),
        ("raft: {pre_vote: maybe}", "raft.pre_vote: expected true or false, got 'maybe'"),
        ("raft: {max_inflight_msgs: 1.5}", "raft.max_inflight_msgs: expected an integer"),
        ("raft: {heartbeat: 50ms}", "raft.heartbeat: unknown key"),
        ("clustr: {node_id: 1}", "clustr: unknown section"),
        ("raft: [1, 2]", "raft: expected a mapping"),
        ("storage: {data_dir: ''}", "storage.data_dir: expected a non-empty string"),
        ("cluster: {node_id: 2}\n", None),  # valid: a lone node 2 on default ports
        ("cluster: {node_id: 5, members: [{id: 1}]}", "cluster.node_id: 5 is not among cluster.members"),
        ("cluster: {members: [{id: 1}, {id: 1, peer_address: 'h:1', client_address: 'h:2', http_port: 0}]}",
         "cluster.members[1].id: duplicate member id 1"),
        ("cluster: {members: [{peer_address: 'h:1'}]}", "cluster.members[0].id: missing"),
        ("cluster: {members: [{id: 1, colour: red}]}", "cluster.members[0].colour: unknown key"),
        ("cluster: {members: [{id: 1, peer_address: 'nohost'}]}",
         "cluster.members[0].peer_address: expected 'host:port'"),
        ("cluster: {members: [{id: 1, client_address: 'h:70000'}]}",
         "cluster.members[0].client_address: expected 'host:port'"),
        ("cluster: {members: [{id: 1}, {id: 2, http_port: 0}]}",
         "cluster.members[1].peer_address: '127.0.0.1:7101' is already used by cluster.members[0].peer_address"),
        ("cluster: {members: [{id: 1, http_port: 70000}]}", "cluster.members[0].http_port: must be 0..65535"),
        ("cluster: {members: [{id: 0}], node_id: 0}", "cluster.members[0].id: must be a positive integer"),
        ("cluster: {members: 3}", "cluster.members: expected a list"),
        ("cluster: {members: [7]}", "cluster.members[0]: expected a mapping"),
        ("raft: {election_timeout_min: 2s, election_timeout_max: 1s}",
         "raft.election_timeout_min: 2s must be less than raft.election_timeout_max 1s"),
        ("raft: {election_timeout_min: 1s, election_timeout_max: 1s}",
         "raft.election_timeout_min: 1s must be less than raft.election_timeout_max 1s"),
        ("server: {request_timeout: soon}", "server.request_timeout: expected a duration"),
        ("raft: {heartbeat_interval: 300ms}", "raft.election_timeout_min: 500ms must be at least twice"),
        ("raft: {heartbeat_interval: 0}", "raft.heartbeat_interval: must be greater than zero"),
        ("session: {default_ttl: 2m}", "session.default_ttl: 2m must lie between session.min_ttl"),
        ("session: {min_ttl: 20s}", "session.default_ttl: 10s must lie between"),
        ("server: {max_data_size: 4MiB}", "server.max_data_size: 4MiB exceeds server.max_request_size"),
        ("storage: {keep_entries: -1}", "storage.keep_entries: must not be negative"),
        ("storage: {snapshot_entries: 0}", "storage.snapshot_entries: must be greater than zero"),
        ("storage: {snapshot_bytes: 0}", "storage.snapshot_bytes: must be greater than zero"),
        ("storage: {snapshot_bytes: -1}", "storage.snapshot_bytes: expected a non-negative size"),
        ("storage: {snapshot_bytes: lots}", "storage.snapshot_bytes: expected a size"),
        ("storage: {keep_bytes: -1MiB}", "storage.keep_bytes: expected a size"),
        ("storage: {keep_bytes: -1}", "storage.keep_bytes: expected a non-negative size"),
        ("storage: {keep_bytes: 0, keep_entries: 0}", None),
    ],
)
def test_errors_name_their_key(tmp_path, text, key_and_problem):
    if key_and_problem is None:
        load_text(tmp_path, text)
        return
    message = config_error(tmp_path, text)
    assert message.startswith(key_and_problem), message


def test_top_level_must_be_a_mapping(tmp_path):
    assert "top level must be a mapping" in config_error(tmp_path, "- 1\n- 2\n")


def test_yaml_syntax_error_names_the_file(tmp_path):
    assert "node.yaml: invalid YAML" in config_error(tmp_path, "raft: {heartbeat_interval: [\n")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")


def test_members_on_port_zero_do_not_clash(tmp_path):
    text = """
cluster:
  node_id: 2
  members:
    - {id: 1, peer_address: "127.0.0.1:0", client_address: "127.0.0.1:0", http_port: 0}
    - {id: 2, peer_address: "127.0.0.1:0", client_address: "127.0.0.1:0", http_port: 0}
"""
    assert load_text(tmp_path, text).peers == {1: "127.0.0.1:0"}


# ---- auth ---------------------------------------------------------------------------------

ROOT_HASH = "ab" * 32


def test_auth_is_off_by_default_and_needs_no_root_hash_then(tmp_path):
    cfg = load_text(tmp_path, "cluster: {node_id: 1}\n")
    assert cfg.auth.enabled is False and cfg.auth.root_token_sha256 == ""


def test_auth_enabled_reads_the_root_token_hash(tmp_path):
    cfg = load_text(tmp_path, f"auth: {{enabled: true, root_token_sha256: {ROOT_HASH.upper()}}}\n")
    assert cfg.auth.enabled and cfg.auth.root_token_sha256 == ROOT_HASH
    write_config(cfg.to_dict(), tmp_path / "out.yaml")
    assert load_config(tmp_path / "out.yaml").auth == cfg.auth


@pytest.mark.parametrize("text,key", [
    ("auth: {enabled: true}\n", "auth.root_token_sha256: required"),
    ("auth: {enabled: true, root_token_sha256: abc}\n", "auth.root_token_sha256: expected the sha256"),
    ("auth: {enabled: maybe, root_token_sha256: " + ROOT_HASH + "}\n", "auth.enabled:"),
    ("auth: {root_token: x}\n", "auth.root_token: unknown key"),
])
def test_auth_config_errors_name_their_key(tmp_path, text, key):
    assert key in config_error(tmp_path, text)
