"""The ``skylock`` command line: run a node, and talk to a cluster.

Examples::

    skylock serve --config configs/node1.yaml
    skylock --servers 127.0.0.1:7001,127.0.0.1:7002 status
    skylock create /app/config "v1"
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from typing import Any

import click

from skylock.config import ConfigError, load_config

DEFAULT_SERVERS = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


@click.group()
@click.option("--servers", envvar="SKYLOCK_SERVERS", default=DEFAULT_SERVERS, show_default=True,
              help="Comma-separated host:port client addresses of the cluster (env SKYLOCK_SERVERS).")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON (for scripts).")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for the cluster.")
@click.pass_context
def main(ctx: click.Context, servers: str, as_json: bool, timeout: float) -> None:
    """SkyLock: a coordination service (Raft, sessions, ephemeral nodes, locks, watches)."""
    ctx.obj = {"servers": servers, "json": as_json, "timeout": timeout}


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), required=False,
              help="YAML node configuration (see configs/).")
@click.option("--node-id", type=int, help="Override cluster.node_id.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Override storage.data_dir.")
@click.option("--log-level", default="info", show_default=True)
def serve(config_path: str | None, node_id: int | None, data_dir: str | None, log_level: str) -> None:
    """Run one node until Ctrl-C / SIGTERM.

    Example: skylock serve --config configs/node1.yaml
    """
    from skylock.node import Node

    overrides: dict[str, Any] = {}
    if node_id is not None:
        overrides["cluster.node_id"] = node_id
    if data_dir is not None:
        overrides["storage.data_dir"] = data_dir
    try:
        cfg = load_config(config_path, overrides)
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
    configure_logging(log_level)
    node = Node(cfg)
    try:
        node.start()
    except Exception as err:  # noqa: BLE001 - one clear line, not a traceback
        raise click.ClickException(f"node {cfg.cluster.node_id} could not start: {err}") from None

    def stop(_signum: int, _frame: Any) -> None:
        node.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    node.wait()
    node.stop()


# ---- client commands --------------------------------------------------------------------


def _client(ctx: click.Context) -> Any:
    from skylock.client import Client

    return Client(ctx.obj["servers"], request_timeout=ctx.obj["timeout"])


def _run(ctx: click.Context, fn: Any, human: Any) -> None:
    """Run ``fn(client)``; print its result as JSON or through ``human``; errors are one line."""
    from skylock.errors import SkyLockError

    client = _client(ctx)
    try:
        result = fn(client)
    except SkyLockError as err:
        raise click.ClickException(f"{err.code}: {err.message}") from None
    finally:
        client.close()
    if ctx.obj["json"]:
        click.echo(json.dumps(result, default=_json_default, sort_keys=True))
    else:
        human(result)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise TypeError(f"cannot encode {type(value).__name__}")


@main.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show every node's role, term, commit and applied index.

    Example: skylock status
    """

    def human(result: dict[str, Any]) -> None:
        click.echo(f"leader: node {result['leader']}  term {result['term']}")
        for n in result["nodes"]:
            if not n.get("reachable"):
                click.echo(f"  node {n['id']}  {n.get('client_address', '?'):<22} unreachable")
                continue
            click.echo(f"  node {n['id']}  {n['client_address']:<22} {n['role']:<10} term {n['term']:<4} "
                       f"commit {n['commit']:<8} applied {n['applied']}")

    _run(ctx, lambda c: c.status(), human)


@main.command()
@click.pass_context
def leader(ctx: click.Context) -> None:
    """Show the current leader and its client address.

    Example: skylock leader
    """
    _run(ctx, lambda c: c.leader(),
         lambda r: click.echo(f"node {r['leader_id']} at {r['client_address']} (term {r['term']})"))


if __name__ == "__main__":
    main()
