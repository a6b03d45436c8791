"""The README's Python SDK example runs as written (only the server list is this cluster's),
and runs again: it once failed the second time with ``NodeExists``."""

from __future__ import annotations

from pathlib import Path

from tests.integration.cluster import LocalCluster

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE_SERVERS = '"127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"'


def test_readme_sdk_example_runs_twice(cluster: LocalCluster, capsys) -> None:
    section = README.read_text()
    section = section[section.index("## Python SDK"):]
    start = section.index("```python") + len("```python")
    code = section[start:section.index("```", start)]
    assert EXAMPLE_SERVERS in code
    for _ in range(2):
        exec(compile(code.replace(EXAMPLE_SERVERS, repr(",".join(cluster.servers))), "README.md", "exec"), {})
        out = capsys.readouterr().out
        assert "holding my-resource with fencing token" in out
        assert "leading: True - everyone sees: my-app" in out
    assert len(cluster.client().children("/my-app")) == 2  # one log entry per run
