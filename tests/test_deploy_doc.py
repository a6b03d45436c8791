"""docs/DEPLOY.md's three configs load as written and say what the page says: one member
list everywhere, each node bound on 0.0.0.0 and advertising its machine's name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from skylock.config import load_config
from skylock.node import EXIT_FAILED

DOC = Path(__file__).resolve().parent.parent / "docs" / "DEPLOY.md"


def config_block(host: str) -> str:
    match = re.search(rf"<!-- deploy: {host} -->\n```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"no config for {host} in {DOC.name}"
    return match.group(1)


@pytest.mark.parametrize("node_id", [1, 2, 3])
def test_each_machines_config_loads_and_binds_all_interfaces(tmp_path: Path, node_id: int) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(config_block(f"db{node_id}"))
    cfg = load_config(path)
    assert cfg.cluster.node_id == node_id
    assert cfg.me.client_address == f"db{node_id}.example.internal:7001"
    assert (cfg.listen_client, cfg.listen_peer, cfg.listen_http) == ("0.0.0.0:7001", "0.0.0.0:7101", "0.0.0.0:8080")
    assert cfg.peers == {i: f"db{i}.example.internal:7101" for i in (1, 2, 3) if i != node_id}
    assert cfg.storage.data_dir == Path("/var/lib/skylock")


def test_the_member_list_is_the_same_on_every_machine() -> None:
    lists = {re.search(r"members:.*?\n\n", config_block(f"db{i}"), re.S).group(0).split("\n", 1)[1]  # type: ignore[union-attr]
             for i in (1, 2, 3)}
    assert len(lists) == 1


def test_the_unit_starts_the_config_the_page_writes() -> None:
    text = DOC.read_text()
    assert "ExecStart=/opt/skylock/bin/skylock serve --config /etc/skylock/node.yaml" in text
    assert f"RestartPreventExitStatus={EXIT_FAILED}" in text  # a node that lost its state: restarting cannot help
