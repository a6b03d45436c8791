"""``skylock exists``, ``tree``, ``multi`` and ``session list`` against a real cluster
(in-process through click's CliRunner, and ``multi`` reading stdin in a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
import os
from pathlib import Path

from click.testing import CliRunner

from skylock.cli import main
from tests.client.test_cli import cli, cli_json
from tests.integration.cluster import LocalCluster


def test_exists_answers_by_its_exit_status(cluster: LocalCluster) -> None:
    cli(cluster, "create", "/cli-ex", "v")
    assert cli(cluster, "exists", "/cli-ex").output.startswith("/cli-ex: version 0  czxid ")
    missing = cli(cluster, "exists", "/cli-ex/none", ok=False)
    assert (missing.exit_code, missing.output) == (1, "/cli-ex/none does not exist\n")
    assert cli_json(cluster, "exists", "/cli-ex")["stat"]["data_length"] == 1
    gone = cli(cluster, "--json", "exists", "/cli-ex/none", ok=False)
    assert gone.exit_code == 1 and json.loads(gone.stdout) == {"path": "/cli-ex/none", "exists": False, "stat": None}
    assert cli(cluster, "exists", "no-slash", ok=False).output.startswith("Error: BadPath: ")


def test_tree_lists_every_level_indented(cluster: LocalCluster) -> None:
    for path in ("/cli-tree/b/x/deep", "/cli-tree/a", "/cli-tree/b/y"):
        cli(cluster, "create", path)
    assert cli(cluster, "tree", "/cli-tree").stdout.splitlines() == [
        "/cli-tree", "  a", "  b", "    x", "      deep", "    y"]
    nested = cli_json(cluster, "tree", "/cli-tree")
    assert nested["path"] == "/cli-tree" and [c["path"] for c in nested["children"]] == ["/cli-tree/a", "/cli-tree/b"]
    assert nested["children"][1]["children"][0] == {"path": "/cli-tree/b/x", "children": [
        {"path": "/cli-tree/b/x/deep", "children": []}]}
    assert "  cli-tree" in cli(cluster, "tree").stdout.splitlines()  # the root by default
    assert cli(cluster, "tree", "/cli-tree/none", ok=False).output.startswith("Error: NoNode: ")


def test_multi_from_stdin_and_from_a_file(cluster: LocalCluster, tmp_path: Path) -> None:
    cli(cluster, "create", "/cli-tx", "v0")
    ops = [{"op": "check", "path": "/cli-tx", "version": 0}, {"op": "set", "path": "/cli-tx", "data": "v1"},
           {"op": "create", "path": "/cli-tx/bin", "data": "AAEC/w==", "encoding": "base64"}]
    piped = subprocess.run([sys.executable, "-m", "skylock.cli", "multi", "-"], input=json.dumps(ops),
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "SKYLOCK_SERVERS": ",".join(cluster.servers)})
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.splitlines() == ["check      /cli-tx", "set        /cli-tx  version 1",
                                         "create     /cli-tx/bin  version 0"]
    assert cli_json(cluster, "exists", "/cli-tx/bin")["stat"]["data_length"] == 4
    file = tmp_path / "ops.json"
    file.write_text(json.dumps({"ops": [{"op": "delete", "path": "/cli-tx/bin"}]}))
    assert cli_json(cluster, "multi", str(file)) == {"results": [{}]}
    file.write_text(json.dumps([{"op": "create", "path": "/cli-tx/new"}, {"op": "set", "path": "/cli-tx",
                                                                          "data": "x", "version": 0}]))
    failed = cli(cluster, "multi", str(file), ok=False)
    assert failed.exit_code == 1 and failed.output.startswith("Error: BadVersion: ops[1] (set /cli-tx): ")
    assert cli(cluster, "exists", "/cli-tx/new", ok=False).exit_code == 1  # all or nothing
    bad = CliRunner().invoke(main, ["--servers", ",".join(cluster.servers), "multi", "-"], input="[{oops")
    assert bad.exit_code == 1 and bad.output.startswith("Error: BadRequest: <stdin> is not valid JSON")
    unknown = CliRunner().invoke(main, ["--servers", ",".join(cluster.servers), "multi", "-"],
                                 input='[{"op": "drop", "path": "/cli-tx"}]')
    assert unknown.exit_code == 1 and unknown.output.startswith("Error: BadRequest: op 'multi': ops[0] needs 'op'")


def test_session_list_shows_public_ids_ephemerals_and_locks(cluster: LocalCluster) -> None:
    opened = cli_json(cluster, "session", "create", "lister", "--ttl", "30")
    sid, public = opened["session_id"], opened["public_id"]
    cli(cluster, "create", "/cli-ls/worker", "--ephemeral", "--session", sid)
    cli(cluster, "lock", "cli-ls-lock", sid)
    listed = {s["public_id"]: s for s in cli_json(cluster, "session", "list")["sessions"]}
    mine = listed[public]
    assert (mine["client_id"], mine["ttl_ms"], mine["ephemerals"]) == ("lister", 30000, ["/cli-ls/worker"])
    assert [(lk["name"], lk["held"]) for lk in mine["locks"]] == [("cli-ls-lock", True)]
    human = cli(cluster, "session", "list").stdout
    assert f"{public}  lister  ttl 30s\n  ephemeral /cli-ls/worker\n  holds lock cli-ls-lock  (lock-" in human
    assert sid not in human and sid not in json.dumps(listed)  # the secret is never listed
    cli(cluster, "session", "close", sid)
    assert public not in cli(cluster, "session", "list", "--local").stdout
