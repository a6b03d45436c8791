"""``skylock serve --log-format json`` for log shippers: every line a JSON object carrying the
node id and the node's Raft term and role at that moment (configs/single.yaml, a real process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from skylock.client import Client
from tests.integration.cluster import wait_until
from tests.integration.test_single_node import shipped_single_config

FIELDS = {"time", "level", "logger", "message", "thread", "node_id", "term", "role", "leader"}


def test_every_line_is_json_with_node_id_term_and_role(tmp_path: Path) -> None:
    config, client_port = shipped_single_config(tmp_path)
    with open(tmp_path / "node.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "skylock.cli", "serve", "--config", str(config),
                                 "--log-format", "json"], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        with Client([f"127.0.0.1:{client_port}"], request_timeout=10.0) as client:
            wait_until(client.leader, timeout=20, what="the single node to lead")
            client.create("/logged", b"x")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    lines = [json.loads(line) for line in (tmp_path / "node.log").read_text().splitlines()]
    assert lines and all(FIELDS <= set(line) and line["node_id"] == 1 for line in lines)
    assert lines[0]["role"] == "follower" and lines[0]["term"] == 0  # recovery, before any election
    elected = next(line for line in lines if "role=LEADER" in line["message"])
    assert (elected["role"], elected["leader"]) == ("leader", 1) and elected["term"] >= 1
    assert lines[-1]["message"] == "node=1 stopped" and lines[-1]["role"] == "leader"
