"""The README's tours run as written, in README order (REST tour, CLI tour, SDK example), and
then all again, on a cluster started the way the README says: ``python start_cluster.py``.

The README's commands use the default ports; a test cannot (they may be taken), so it starts
the cluster with ``--base-port`` on free ports and changes only where the commands go:
  - REST tour: ``localhost:8080`` becomes ``localhost:<node 1's HTTP port>``; each ``curl``
    gets ``--fail-with-body``, so an HTTP error fails the step under ``set -e``.
  - CLI tour: ``SKYLOCK_SERVERS`` names the cluster's client addresses; the ``skylock watch``
    line, which runs until Ctrl-C, runs under ``timeout --preserve-status -s INT`` (Ctrl-C after
    a few seconds, exit status 0).
  - SDK example: its server list becomes the cluster's.
  - Monitoring lines: ``localhost:8080`` becomes node 1's HTTP port, as for the REST tour.
  - Security tour (on ``start_cluster.py --secure``): the credentials path becomes the one that
    ``start_cluster.py`` printed, and ``localhost:8080`` node 1's HTTPS port.
Each block runs under ``set -xeo pipefail``: the first failing line stops it, and is shown.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from skylock.client import Client
from skylock.errors import NoNode
from tests.integration.launcher import ROOT, StartCluster

README = ROOT / "README.md"
SDK_SERVERS = '"127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"'
WATCH_SECONDS = 5


def block(marker: str, language: str) -> str:
    """The fenced block right after ``<!-- marker -->`` in the README."""
    text = README.read_text()
    tag = f"<!-- {marker} -->\n```{language}\n"
    assert text.count(tag) == 1, f"the README marks one {language} block with <!-- {marker} -->"
    start = text.index(tag) + len(tag)
    return text[start:text.index("\n```", start)]


def _run_start_cluster(data_dir: Path, *args: str) -> Iterator[StartCluster]:
    """``python start_cluster.py ARGS`` until the module's tests are done, then Ctrl-C."""
    cluster = StartCluster(data_dir, None, *args)
    try:
        assert cluster.wait_leader().startswith("leader: node ")
        yield cluster
        assert cluster.interrupt() == 0
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartCluster]:
    yield from _run_start_cluster(tmp_path_factory.mktemp("readme"))


def run_bash(script: str, env: dict[str, str], cluster: StartCluster) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["bash", "-c", "set -xeo pipefail\n" + script], capture_output=True, text=True,
                            timeout=240, env=env)
    assert result.returncode == 0, (f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n"
                                    f"{result.stderr}\n--- start_cluster.py\n{cluster.output_so_far()}")
    return result


def shell_env(cluster: StartCluster) -> dict[str, str]:
    """``skylock`` and ``python3`` of the Python running the tests come first on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "SKYLOCK_SERVERS": ",".join(cluster.servers)}


def rest_tour(cluster: StartCluster) -> str:
    script = block("tour: rest", "bash")
    assert "localhost:8080" in script
    script = script.replace("localhost:8080", f"localhost:{cluster.http_port}")
    return re.sub(r"\bcurl -s", "curl --fail-with-body -s", script)


def cli_tour() -> str:
    lines = block("tour: cli", "bash").splitlines()
    watch = [i for i, line in enumerate(lines) if line.startswith("skylock watch ")]
    assert len(watch) == 1, "one watch line, which runs until Ctrl-C"
    lines[watch[0]] = f"timeout --preserve-status -s INT {WATCH_SECONDS} {lines[watch[0]]}"
    return "\n".join(lines)


def sdk_example(cluster: StartCluster) -> str:
    code = block("example: sdk", "python")
    assert SDK_SERVERS in code
    return code.replace(SDK_SERVERS, repr(",".join(cluster.servers)))


def check_rest(out: str) -> None:
    for expected in ('"leader_id": ', '"nodes": [', '"path": "/my/path", "data": "hello"', '"data": "hello"',
                     '"version": 1', '"children": ["path", "worker-', '"deleted": true', '"holder": {',
                     '"released": "lock-', '"events": [', '"closed": true', '"path": "/my", "deleted": true'):
        assert expected in out, f"{expected!r} not in the REST tour's output:\n{out}"
    assert re.search(r"^session [0-9a-f]{32}$", out, re.M), out
    assert '{"results": [{"path": "/my/a", "stat": {' in out, out  # POST /v1/multi


def check_cli(result: subprocess.CompletedProcess[str]) -> None:
    out = result.stdout
    for expected in ("leader: node ", "/my/path\n", "some data\n", "/services/web-1\n", "version 1 ",
                     "deleted /my/path\n", "deleted /my\n", "holder: lock-",
                     "released lock-", " renewed\n", " closed\n"):
        assert expected in out, f"{expected!r} not in the CLI tour's output:\n{out}"
    assert "acquired my-lock: fencing token " in result.stderr, result.stderr
    assert "watching /services (recursive)" in result.stderr, result.stderr
    for expected in ("create     /my/tx  version 0\n", "/my\n  path\n  tx\n", "  ephemeral /services/web-1\n",
                     "  holds lock my-lock  (lock-"):  # multi, tree, session list
        assert expected in out, f"{expected!r} not in the CLI tour's output:\n{out}"


def test_readme_tours_run_as_written_in_order_and_again(started: StartCluster) -> None:
    env = shell_env(started)
    for _ in range(2):
        check_rest(run_bash(rest_tour(started), env, started).stdout)
        check_cli(run_bash(cli_tour(), env, started))
        sdk = subprocess.run([sys.executable, "-c", sdk_example(started)], capture_output=True, text=True,
                             timeout=120, env=env)
        assert sdk.returncode == 0, sdk.stderr
        assert "leading: True - everyone sees: my-app" in sdk.stdout
    with Client(started.servers) as client:
        for gone in ("/my", "/services/web-1", "/services/my-app"):
            with pytest.raises(NoNode):
                client.get(gone)
        assert client.lock_info("my-lock")["holder"] is None


def test_readme_async_example_runs_as_written_and_again(started: StartCluster) -> None:
    code = block("example: async", "python")
    assert SDK_SERVERS in code
    code = code.replace(SDK_SERVERS, repr(",".join(started.servers)))
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                              env=shell_env(started))
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            "100 reads of b'v1'", "typed errors, as with Client", "data_changed /my-async-app",
            f"holding my-async-lock with fencing token {done.stdout.rsplit(' ', 1)[1].strip()}"], done.stdout


@pytest.fixture(scope="module")
def started_secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartCluster]:
    yield from _run_start_cluster(tmp_path_factory.mktemp("readme-secure"), "--secure")


def secure_tour(cluster: StartCluster) -> str:
    script = block("tour: secure", "bash")
    printed = cluster.wait_line(lambda line: line.startswith("export SKYLOCK_CREDENTIALS="))
    readme_export = "export SKYLOCK_CREDENTIALS=$PWD/data/secure-cluster/credentials.yaml"
    assert readme_export in script
    script = script.replace(readme_export, printed)
    assert "localhost:8080" in script
    return script.replace("localhost:8080", f"localhost:{cluster.http_port}")


def test_readme_security_tour_runs_as_written_and_again(started_secure: StartCluster) -> None:
    env = {key: value for key, value in shell_env(started_secure).items()
           if key not in ("SKYLOCK_SERVERS", "SKYLOCK_TOKEN", "SKYLOCK_CREDENTIALS")}
    for _ in range(2):
        result = run_bash(secure_tour(started_secure), env, started_secure)
        out = result.stdout
        assert "leader: node " in out and "v1\n" in out, out
        assert "refused: alice may only read /app" in out, out
        assert "Error: PermissionDenied: " in result.stderr, result.stderr
        assert '"path": "/app/config", "data": "v1"' in out, out
        assert '"code": "Unauthenticated"' in out, out
        assert "user alice deleted" in out and "deleted /app\n" in out, out


def test_readme_monitoring_lines_run_as_written(started: StartCluster) -> None:
    script = block("tour: monitoring", "bash")
    assert "localhost:8080" in script
    out = run_bash(script.replace("localhost:8080", f"localhost:{started.http_port}"), shell_env(started),
                   started).stdout
    assert '"status": "ok"' in out, out
    assert "skylock_raft_term" in out and "skylock_raft_applied_index" in out, out


def test_readme_backup_lines_run_as_written(started: StartCluster, tmp_path: Path) -> None:
    """Save, inspect and restore as written (in a scratch directory); the restored cluster's
    start, a long-running command, is tested by tests/integration/test_backup_restore.py."""
    script = block("tour: backup", "bash")
    out = run_bash(f"cd {tmp_path}\n{script}", shell_env(started), started).stdout
    assert "saved backup.skb: index " in out and "sha256 verified" in out, out
    assert "Start the new cluster with: python start_cluster.py --data-dir restored\n" in out, out
    assert "python start_cluster.py --data-dir restored" in README.read_text()
    for node in ("node1", "node2", "node3"):
        assert any((tmp_path / "restored" / node / "snap").iterdir()), node
