"""configs/single.yaml as a user runs it (`skylock serve --config configs/single.yaml`): a
one-member cluster elects itself and serves writes, reads, sessions and locks. The test runs
the shipped file with only its ports and data directory moved to free ones."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from skylock.client import Client
from skylock.layout import free_ports
from tests.integration.cluster import wait_until

SHIPPED = Path(__file__).resolve().parents[2] / "configs" / "single.yaml"


def shipped_single_config(tmp_path: Path) -> tuple[Path, int]:
    """configs/single.yaml with free ports and ``tmp_path/data``; returns it and the client port."""
    raw = yaml.safe_load(SHIPPED.read_text())
    (member,) = raw["cluster"]["members"]
    client_port, peer_port, http_port = free_ports(3)
    member.update(client_address=f"127.0.0.1:{client_port}", peer_address=f"127.0.0.1:{peer_port}",
                  http_port=http_port)
    raw["storage"]["data_dir"] = "./data"
    config = tmp_path / "single.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config, client_port


def test_single_member_config_elects_itself_and_serves(tmp_path: Path) -> None:
    config, client_port = shipped_single_config(tmp_path)
    log = open(tmp_path / "single.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "skylock.cli", "serve", "--config", str(config)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        with Client([f"127.0.0.1:{client_port}"], request_timeout=10.0) as client:
            leader = wait_until(client.leader, timeout=20, what="the single node to lead")
            assert leader["leader_id"] == 1
            client.create("/solo", b"x")
            assert client.get("/solo")[0] == b"x"
            wait_until(lambda: client.get("/solo", consistency="local")[0] == b"x", what="a local read")
            client.start_session("solo", ttl=5.0)
            client.create("/solo/eph", b"", ephemeral=True)
            grant = client.lock_acquire("solo-lock", owner="me", timeout=5.0)
            assert client.lock_info("solo-lock")["holder"]["entry"] == grant["lock_id"].split(".")[0]
            client.lock_release("solo-lock", grant["lock_id"])
            assert client.lock_info("solo-lock")["holder"] is None
        assert (tmp_path / "data" / "wal").is_dir()  # data_dir resolved against the config's directory
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        log.close()
