"""The README's Python SDK example runs as written (only the server list is this cluster's)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.cluster import LocalCluster

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE_SERVERS = '"127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"'


def test_readme_sdk_example_runs(cluster: LocalCluster, capsys) -> None:
    section = README.read_text()
    section = section[section.index("## Python SDK"):]
    start = section.index("```python") + len("```python")
    code = section[start:section.index("```", start)]
    assert EXAMPLE_SERVERS in code
    exec(compile(code.replace(EXAMPLE_SERVERS, repr(",".join(cluster.servers))), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "holding my-resource with fencing token" in out
    assert "leading: True - everyone sees: my-app" in out
