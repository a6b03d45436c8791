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


def test_readme_recipes_run_as_written_in_order_and_again(cluster: LocalCluster, capsys) -> None:
    """Every Python block of the README's Recipes section, as one script, twice."""
    text = README.read_text()
    section = text[text.index("<!-- example: recipes -->"):text.index("## Deploying on several machines")]
    blocks = section.split("```python\n")[1:]
    code = "".join(block[:block.index("```")] for block in blocks)
    assert EXAMPLE_SERVERS in code and len(blocks) == 10
    for _ in range(2):
        exec(compile(code.replace(EXAMPLE_SERVERS, repr(",".join(cluster.servers))), "README.md", "exec"), {})
        out = capsys.readouterr().out.splitlines()
        assert out[:5] == ["charging the card", "['worker-1']", "False", "True", "doing my share"], out
        assert "b'urgent'" in out and "b'resize photo 17'" in out and "1 ['host-a:9000']" in out, out
        assert out[-1] == "sending the daily report", out


def test_readme_retry_example_runs_as_written(cluster: LocalCluster, capsys) -> None:
    text = README.read_text()
    start = text.index("<!-- example: retry -->\n```python\n") + len("<!-- example: retry -->\n```python\n")
    code = text[start:text.index("```", start)]
    assert EXAMPLE_SERVERS in code
    for _ in range(2):
        exec(compile(code.replace(EXAMPLE_SERVERS, repr(",".join(cluster.servers))), "README.md", "exec"), {})
        assert capsys.readouterr().out.startswith("read / after ")


def test_the_configs_for_growing_to_five_members_are_the_ones_the_readme_adds() -> None:
    """configs/node4.yaml and node5.yaml match the README's ``member add`` lines."""
    from skylock.config import load_config

    text = README.read_text()
    for n in (4, 5):
        me = load_config(README.parent / "configs" / f"node{n}.yaml").me
        assert (f"skylock member add {n} --peer-address {me.peer_address} --client-address {me.client_address} "
                f"--http-port {me.http_port}") in text
