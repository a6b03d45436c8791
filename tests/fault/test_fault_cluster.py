"""The fault suite's clusters in secure mode: what they generate names the addresses the
nodes really use (namespace addresses for ``NetnsCluster``), so clients and HTTPS work there."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from skylock.config import load_config
from skylock.security import load_credentials
from tests.fault.conftest import modes_for
from tests.fault.net import CLIENT_PORT, FilterCluster, FilterNetwork, NetnsCluster


class NamespaceAddresses:
    """What ``NetnsCluster`` reads from its network, without creating any namespace."""

    size = 3
    ns = {i: f"skylock-test-{i}" for i in (1, 2, 3)}

    def ip_of(self, node_id: int) -> str:
        return f"10.77.42.{node_id}"


def _cert_ips(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def test_secure_netns_cluster_names_the_namespace_addresses(tmp_path: Path) -> None:
    cluster = NetnsCluster(tmp_path, NamespaceAddresses(), secure=True)  # type: ignore[arg-type]
    creds = load_credentials(cluster.credentials)
    addresses = [f"10.77.42.{i}:{CLIENT_PORT}" for i in (1, 2, 3)]
    assert list(creds.servers) == addresses and set(creds.server_keys) == set(addresses)
    assert creds.token
    for i, path in enumerate(cluster.configs, start=1):
        cfg = load_config(path)
        assert cfg.security.mode == "secure" and cfg.auth.enabled
        assert [m.client_address for m in cfg.cluster.members] == addresses
        assert ipaddress.ip_address(f"10.77.42.{i}") in {ipaddress.ip_address(a) for a in
                                                        _cert_ips(Path(str(cfg.security.tls_cert)))}


def test_open_netns_cluster_has_no_security(tmp_path: Path) -> None:
    cluster = NetnsCluster(tmp_path, NamespaceAddresses())  # type: ignore[arg-type]
    assert cluster.credentials is None and not (tmp_path / "secure").exists()
    raw = yaml.safe_load(cluster.configs[0].read_text())
    assert raw.get("security", {}).get("mode", "open") == "open"


def test_secure_filter_cluster_uses_the_credentials(tmp_path: Path) -> None:
    cluster = FilterCluster(tmp_path, FilterNetwork(tmp_path, 3), secure=True)
    assert cluster.credentials is not None
    assert list(load_credentials(cluster.credentials).servers) == cluster.servers
    assert "--fault-control" in cluster.command(1)


def test_modes_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKYLOCK_FAULT_MODES", raising=False)
    assert modes_for("locks") == ["open", "secure"] and modes_for("watches") == ["open"]
    monkeypatch.setenv("SKYLOCK_FAULT_MODES", "open,secure")
    assert modes_for("watches") == ["open", "secure"]
    monkeypatch.setenv("SKYLOCK_FAULT_MODES", "secure")
    assert modes_for("register[crash]") == ["secure"]
    monkeypatch.setenv("SKYLOCK_FAULT_MODES", "tls")
    with pytest.raises(ValueError):
        modes_for("locks")
