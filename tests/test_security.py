"""The ``security`` and ``auth`` config sections and the files ``skylock.security`` makes."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import yaml

from skylock.config import ConfigError, load_config, write_config
from skylock.layout import local_cluster
from skylock.net.curve import KeyPair
from skylock.security import load_credentials, token_sha256


def secure_layout(root: Path) -> list[Path]:
    return local_cluster(2, root, client_ports=[17001, 17002], peer_ports=[17101, 17102],
                         http_ports=[17201, 17202], secure=True)


def test_open_is_the_default_and_needs_no_keys(tmp_path: Path) -> None:
    cfg = load_config(None)
    assert not cfg.security.secure and not cfg.auth.enabled


def test_secure_mode_needs_every_key_and_certificate(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    write_config({"cluster": {"node_id": 1}, "security": {"mode": "secure"}}, path)
    with pytest.raises(ConfigError, match="security.curve_secret_key: required"):
        load_config(path)
    write_config({"cluster": {"node_id": 1}, "security": {"mode": "secured"}}, path)
    with pytest.raises(ConfigError, match="security.mode"):
        load_config(path)


def test_generated_secure_configs_resolve_paths_beside_the_file(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "cluster"
    paths = secure_layout(root)
    monkeypatch.chdir(tmp_path)  # a relative path must not depend on the current directory
    cfg = load_config(paths[0], {"storage.data_dir": "elsewhere"})
    sec = cfg.security
    assert sec.secure and sec.curve_secret_key == root / "secure/curve/node1.key_secret"
    assert sec.member_key_file(2) == root / "secure/curve/public/node2.key"
    assert KeyPair.load(sec.curve_secret_key).public == load_credentials(root / "credentials.yaml").server_keys[
        "127.0.0.1:17001"]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(sec.tls_cert), str(sec.tls_key))  # a usable key pair
    creds = load_credentials(root / "credentials.yaml")
    assert cfg.auth.enabled and cfg.auth.root_token_sha256 == token_sha256(creds.token or "")


def test_a_missing_member_key_is_named(tmp_path: Path) -> None:
    paths = secure_layout(tmp_path)
    (tmp_path / "secure/curve/public/node2.key").unlink()
    with pytest.raises(ConfigError, match="member 2"):
        load_config(paths[0])


def test_a_second_layout_reuses_keys_and_token(tmp_path: Path) -> None:
    secure_layout(tmp_path)
    first = {p: p.read_bytes() for p in (tmp_path / "secure").rglob("*") if p.is_file()}
    token = load_credentials(tmp_path / "credentials.yaml").token
    secure_layout(tmp_path)
    assert {p: p.read_bytes() for p in (tmp_path / "secure").rglob("*") if p.is_file()} == first
    assert load_credentials(tmp_path / "credentials.yaml").token == token
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in first)


def test_auth_root_token_sha256_must_be_hex(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump({"auth": {"enabled": True, "root_token_sha256": "not hex"}}))
    with pytest.raises(ConfigError, match="auth.root_token_sha256"):
        load_config(path)
