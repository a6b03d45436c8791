"""``skylock snapshot ...``: back a cluster up, look inside a backup, restore it as a new cluster.

Examples::

    skylock snapshot save backup.skb                   # from the leader; needs admin in secure mode
    skylock snapshot inspect backup.skb                # index, term, znodes, sessions, size
    skylock snapshot restore backup.skb --data-dir restored --nodes 3
    python start_cluster.py --data-dir restored        # the new cluster, holding the backup's data

Kept apart from skylock/cli.py, which only registers the ``snapshot`` group; it imports
nothing from there, so ``python -m skylock.cli`` loads it without an import cycle.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import click

#: As skylock/cli.py: the servers of configs/node1..3.yaml.
DEFAULT_SERVERS = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"

RESTORE_NOTE = (
    "Sessions are not restored: their clients belonged to the old cluster, so every session "
    "of the backup ends at restore, as if it expired, and its ephemeral nodes (lock holders "
    "and waiters among them) are deleted. Persistent nodes with their data and stats, "
    "sequence counters, and users, roles and grants are kept."
)


def _connector(obj: dict[str, Any]) -> Callable[[list[str] | None], Any]:
    """Clients with the global options' servers, token and timeout (secure mode: SKYLOCK_CREDENTIALS)."""
    from skylock.client import Client
    from skylock.security import CREDENTIALS_ENV

    credentials = os.environ.get(CREDENTIALS_ENV) or None

    def connect(only: list[str] | None) -> Any:
        servers = only or obj.get("servers") or (None if credentials else DEFAULT_SERVERS)
        return Client(servers, token=obj.get("token"), credentials=credentials,
                      request_timeout=obj.get("timeout") or 10.0)

    return connect


def _run(ctx: click.Context, fn: Callable[[], Any], human: Callable[[Any], None]) -> None:
    """Run ``fn``; print its result as JSON (``--json``) or through ``human``; errors are one line."""
    from skylock.errors import SkyLockError

    try:
        result = fn()
    except SkyLockError as err:
        raise click.ClickException(f"{err.code}: {err.message}") from None
    except (OSError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    if (ctx.obj or {}).get("json"):
        click.echo(json.dumps(result, sort_keys=True, default=str))
    else:
        human(result)


@click.group()
def snapshot() -> None:
    """Back a cluster up and restore it as a new cluster.

    A backup is the whole replicated state (the data tree, sessions, users and roles)
    at one log index, taken on the leader after every write acknowledged before it,
    with a sha256 that inspect and restore check.

    Example: skylock snapshot save backup.skb
    """


@snapshot.command("save")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def save(ctx: click.Context, file: Path) -> None:
    """Stream a backup from the leader into FILE (written whole, or not at all).

    Needs admin on / in secure mode. The file holds every node's data and the
    sessions' ids: it is created readable by its owner only.

    Example: skylock snapshot save backup.skb
    """
    from skylock.backup import save_backup

    def saved() -> dict[str, Any]:
        return {"file": str(file), **asdict(save_backup(_connector(ctx.obj or {}), file))}

    _run(ctx, saved, lambda r: click.echo(
        f"saved {r['file']}: index {r['index']} term {r['term']}, {r['size']} bytes of state "
        f"from {r['source']}, sha256 {r['payload_sha256']}"))


@snapshot.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def inspect_(ctx: click.Context, file: Path) -> None:
    """Check FILE whole and show its index, term, znodes, sessions and size.

    Example: skylock snapshot inspect backup.skb --json
    """
    from skylock.backup import inspect_backup

    def human(r: dict[str, Any]) -> None:
        click.echo(f"file      {r['file']} ({r['file_size']} bytes, sha256 verified)")
        click.echo(f"index     {r['index']}  term {r['term']}")
        click.echo(f"znodes    {r['znodes']} ({r['data_bytes']} bytes of data)")
        click.echo(f"sessions  {r['sessions']} with {r['ephemerals']} ephemeral nodes (a restore drops them)")
        click.echo(f"users     {r['users']}")
        click.echo(f"size      {r['size']} bytes of state, sha256 {r['sha256']}")
        click.echo(f"created   {r['created']} from {r['source']}")

    _run(ctx, lambda: inspect_backup(file), human)


@snapshot.command("restore", epilog=RESTORE_NOTE)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where to lay out node1..N (each must be missing or empty).")
@click.option("--nodes", type=click.IntRange(min=1), default=3, show_default=True,
              help="Members of the new cluster (ids 1..N).")
@click.pass_context
def restore(ctx: click.Context, file: Path, data_dir: Path, nodes: int) -> None:
    """Lay out DATA_DIR/node1..N from FILE for a new cluster holding its data.

    Then start it with: python start_cluster.py --data-dir DATA_DIR (adding --nodes N
    when N is not 3). The new cluster continues the backup's log indexes (so zxids and
    lock fencing tokens keep increasing); SkyLock has no cluster id, and the new cluster
    is the one its own configs describe.

    Example: skylock snapshot restore backup.skb --data-dir restored --nodes 3
    """
    from skylock.backup import restore_backup

    def restored() -> dict[str, Any]:
        r = restore_backup(file, data_dir, nodes)
        start = f"python start_cluster.py --data-dir {data_dir}" + (f" --nodes {nodes}" if nodes != 3 else "")
        return {"index": r.index, "term": r.term, "node_dirs": [str(d) for d in r.node_dirs],
                "sessions_dropped": r.sessions_dropped, "ephemerals_deleted": r.ephemerals_deleted,
                "start": start}

    _run(ctx, restored, lambda r: click.echo(
        f"restored index {r['index']} term {r['term']} into {', '.join(r['node_dirs'])}; dropped "
        f"{r['sessions_dropped']} sessions and their {r['ephemerals_deleted']} ephemeral nodes.\n"
        f"Start the new cluster with: {r['start']}"))
