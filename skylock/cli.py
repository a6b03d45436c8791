"""The ``skylock`` command line: run a node, and talk to a cluster.

Examples::

    skylock serve --config configs/node1.yaml
    skylock --servers 127.0.0.1:7001,127.0.0.1:7002 status
    skylock status --servers 127.0.0.1:7001 --json     # global options also go after the command
    skylock create /app/config "v1"                      # creates /app too if it is missing

A session is a lease, not a connection: ``skylock session create`` prints its id,
later commands name it (``--session ID``, ``lock NAME ID``), and it lives until
its TTL runs out unless ``skylock session heartbeat ID`` renews it.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import re
import signal
import sys
from typing import Any

import click

from skylock import cli_auth, cli_member, cli_snapshot
from skylock.config import ConfigError, load_config

DEFAULT_SERVERS = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"


def configure_logging(level: str, fmt: str = "text", node_id: int | None = None) -> Any:
    """Text or JSON lines on stderr; returns the RaftViewBoard a Node should publish to."""
    from skylock import logs

    return logs.configure(level, fmt, node_id=node_id)


@click.group()
@click.option("--servers", envvar="SKYLOCK_SERVERS", default=None,
              help="Comma-separated host:port client addresses of the cluster (env SKYLOCK_SERVERS; "
                   f"default: those of SKYLOCK_CREDENTIALS, else {DEFAULT_SERVERS}).")
@click.option("--token", envvar="SKYLOCK_TOKEN", default=None,
              help="Bearer token sent with every request (env SKYLOCK_TOKEN; default: SKYLOCK_CREDENTIALS's).")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON (for scripts).")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for the cluster.")
@click.pass_context
def main(ctx: click.Context, servers: str | None, token: str | None, as_json: bool, timeout: float) -> None:
    """SkyLock: a coordination service (Raft, sessions, ephemeral nodes, locks, watches).

    A secure cluster: export SKYLOCK_CREDENTIALS=<file> (and SKYLOCK_TOKEN), as
    start_cluster.py --secure prints."""
    ctx.obj = {"servers": servers, "token": token, "json": as_json, "timeout": timeout}


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), required=False,
              help="YAML node configuration (see configs/).")
@click.option("--node-id", type=int, help="Override cluster.node_id.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Override storage.data_dir.")
@click.option("--log-level", default="info", show_default=True)
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one JSON object per line (time, level, logger, message, node_id, term, role, "
                   "leader) for log shippers.")
@click.option("--fault-control", type=click.Path(dir_okay=False), hidden=True,
              help="TEST ONLY: poll this JSON file for peers to cut off (tests/fault).")
@click.option("--join", is_flag=True,
              help="Join a running cluster: start with no membership of its own and wait for its leader, "
                   "after `skylock member add` (ignored once the data directory has data).")
def serve(config_path: str | None, node_id: int | None, data_dir: str | None, log_level: str,
          log_format: str = "text", fault_control: str | None = None, join: bool = False) -> None:
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
    view = configure_logging(log_level, log_format, cfg.cluster.node_id)
    node = Node(cfg, raft_view=view, join=join)
    try:
        node.start()
    except Exception as err:  # noqa: BLE001 - one clear line, not a traceback
        raise click.ClickException(f"node {cfg.cluster.node_id} could not start: {err}") from None
    if fault_control:
        from skylock.net.fault_control import FaultControl

        FaultControl(fault_control, node.transport).start()

    def stop(_signum: int, _frame: Any) -> None:
        node.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    node.wait()
    node.stop()


# ---- client commands --------------------------------------------------------------------


def _one_line(err: Any) -> click.ClickException:
    """Every error the CLI reports: ``Error: Code: message`` on one line, exit status 1."""
    return click.ClickException(f"{err.code}: {err.message}")


def _client(ctx: click.Context) -> Any:
    from skylock.client import Client

    import os

    from skylock.security import CREDENTIALS_ENV

    credentials = os.environ.get(CREDENTIALS_ENV) or None
    servers = ctx.obj["servers"] or (None if credentials else DEFAULT_SERVERS)
    try:
        return Client(servers, token=ctx.obj.get("token"), credentials=credentials,
                      request_timeout=ctx.obj["timeout"])
    except ValueError as err:  # unreadable credentials, a server without a key
        raise click.ClickException(str(err)) from None


def _run(ctx: click.Context, fn: Any, human: Any) -> None:
    """Run ``fn(client)``; print its result as JSON or through ``human``; errors are one line."""
    from skylock.errors import SkyLockError

    client = _client(ctx)
    try:
        result = fn(client)
    except SkyLockError as err:
        raise _one_line(err) from None
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


def _leader_line(status: dict[str, Any]) -> str:
    """Leader id 0 is Raft's "none": say so rather than name a node 0 that does not exist."""
    if not status["leader"]:
        return (f"leader: none  term {status['term']}  "
                "(an election is under way, or no majority of the nodes is up)")
    return f"leader: node {status['leader']}  term {status['term']}"


def _lag(node: dict[str, Any]) -> str:
    lag = node.get("lag")  # a node of an older version does not say
    return "-" if lag is None else str(lag)


@main.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show every node's role, term, commit and applied index, and its lag: how many
    entries its applied index is behind the leader's commit index ("-": no leader to
    measure against).

    Example: skylock status
    """

    def human(result: dict[str, Any]) -> None:
        click.echo(_leader_line(result))
        for n in result["nodes"]:
            if not n.get("reachable"):
                click.echo(f"  node {n['id']}  {n.get('client_address', '?'):<22} unreachable")
                continue
            click.echo(f"  node {n['id']}  {n['client_address']:<22} {n['role']:<10} term {n['term']:<4} "
                       f"commit {n['commit']:<8} applied {n['applied']:<8} lag {_lag(n)}")

    _run(ctx, lambda c: c.status(), human)


@main.group(invoke_without_command=True)
@click.pass_context
def leader(ctx: click.Context) -> None:
    """Show the current leader and its client address (``leader transfer``: hand it over).

    Example: skylock leader
    """
    if ctx.invoked_subcommand is not None:
        return
    _run(ctx, lambda c: c.leader(),
         lambda r: click.echo(f"node {r['leader_id']} at {r['client_address']} (term {r['term']})"))


# ---- sessions -----------------------------------------------------------------------------

#: The form of the ids the cluster issues (skylock/actors/gateway.py: ``uuid4().hex``).
SESSION_ID = re.compile(r"[0-9a-f]{32}")


def _session_id(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """Refuse a malformed session id before it reaches the cluster, which would only call it
    unknown (``SessionExpired``) and hide the real mistake, e.g. a captured line of prose."""
    from skylock.errors import BadRequest

    if value is not None and not SESSION_ID.fullmatch(value):
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise _one_line(BadRequest(f"malformed session id {shown!r}: expected the 32 hex digits "
                                   "printed by `skylock session create`"))
    return value


@main.group()
def session() -> None:
    """Open, renew and close sessions.

    A session outlives the command that created it: it stays open until its TTL
    passes without a heartbeat, or until `session close`. Ephemeral nodes and locks
    belong to a session and vanish with it.

    Example: skylock session create my-client --ttl 30
    """


@session.command("create")
@click.argument("client_id")
@click.option("--ttl", default=10.0, show_default=True,
              help="Seconds the session lives without a heartbeat (the cluster may clamp it).")
@click.pass_context
def session_create(ctx: click.Context, client_id: str, ttl: float) -> None:
    """Open a session and print its id alone on stdout (the TTL and how to renew on stderr),
    so that S=$(skylock session create NAME) captures just the id.
    It expires after TTL seconds unless heartbeated.

    Example: skylock session create my-client --ttl 30
    """

    def human(r: dict[str, Any]) -> None:
        click.echo(r["session_id"])
        click.echo(f"ttl {r['ttl_ms'] / 1000:g}s; renew with: skylock session heartbeat {r['session_id']}",
                   err=True)

    _run(ctx, lambda c: c.call("session.open", client_id=client_id, ttl_ms=int(ttl * 1000)), human)


@session.command("heartbeat")
@click.argument("session_id", callback=_session_id)
@click.pass_context
def session_heartbeat(ctx: click.Context, session_id: str) -> None:
    """Renew a session for another TTL.

    Example: skylock session heartbeat 3f2a9c...
    """
    _run(ctx, lambda c: c.session_heartbeat(session_id),
         lambda r: click.echo(f"session {session_id} renewed"))


@session.command("close")
@click.argument("session_id", callback=_session_id)
@click.pass_context
def session_close(ctx: click.Context, session_id: str) -> None:
    """Close a session now: its ephemeral nodes and locks go at once.

    Example: skylock session close 3f2a9c...
    """
    _run(ctx, lambda c: c.call("session.close", session_id=session_id) or {"closed": session_id},
         lambda r: click.echo(f"session {session_id} closed"))


@session.command("list")
@click.option("--local", is_flag=True, help="Read from the server contacted, possibly stale (faster).")
@click.pass_context
def session_list(ctx: click.Context, local: bool) -> None:
    """List the open sessions by public id (never their secret ids), each with its client id,
    TTL, ephemeral nodes and lock entries (held or waiting). Needs read on / in secure mode.

    Example: skylock session list
    """

    def human(r: dict[str, Any]) -> None:
        for s in r["sessions"]:
            click.echo(f"{s['public_id']}  {s['client_id'] or '-'}  ttl {s['ttl_ms'] / 1000:g}s")
            for path in s["ephemerals"]:
                click.echo(f"  ephemeral {path}")
            for held in s["locks"]:
                state = "holds" if held["held"] else "waits for"
                click.echo(f"  {state} lock {held['name']}  ({held['entry']}, token {held['token']})")

    _run(ctx, lambda c: c.call("session.list", consistency="local" if local else "linearizable"), human)


# ---- nodes ----------------------------------------------------------------------------------


def _stat_line(stat: dict[str, Any]) -> str:
    owner = f"  ephemeral owner {stat['ephemeral_owner']}" if stat.get("ephemeral_owner") else ""
    return (f"version {stat['version']}  czxid {stat['czxid']}  mzxid {stat['mzxid']}  "
            f"children {stat['num_children']}  {stat['data_length']} bytes{owner}")


@main.command()
@click.argument("path")
@click.argument("data", default="")
@click.option("--ephemeral", is_flag=True, help="Delete the node when the session (--session) ends.")
@click.option("--session", "session_id", callback=_session_id,
              help="Owning session id of an --ephemeral node.")
@click.option("--sequential", is_flag=True, help="Append a 10-digit counter to the name.")
@click.option("--parents/--no-parents", default=True, show_default=True,
              help="Create missing ancestors as empty persistent nodes, like mkdir -p; "
                   "--no-parents keeps ZooKeeper's rule that the parent must exist.")
@click.pass_context
def create(ctx: click.Context, path: str, data: str, ephemeral: bool, session_id: str | None,
           sequential: bool, parents: bool) -> None:
    """Create a node (and its missing parents) and print its path.

    Example: skylock create /services/web-1 "10.0.0.5:80" --ephemeral --session 3f2a9c...
    """
    if ephemeral and not session_id:
        raise click.UsageError("--ephemeral needs --session ID (from `skylock session create`)")
    if session_id and not ephemeral:
        raise click.UsageError("--session names the owner of an --ephemeral node: add --ephemeral, "
                               "or drop --session for a persistent node")
    args = {"path": path, "data": data.encode(), "ephemeral": ephemeral, "sequential": sequential,
            "session_id": session_id}
    _run(ctx, lambda c: _create_node(c, args, parents=parents), lambda r: click.echo(r["path"]))


def _create_node(client: Any, args: dict[str, Any], *, parents: bool) -> dict[str, Any]:
    """``create``, and with ``parents`` on ``NoNode`` create the missing ancestors and try once
    more (the first try failed, so it cannot apply twice). A parent that appears meanwhile is fine."""
    from skylock.errors import NoNode

    try:
        return dict(client.call("create", **args))
    except NoNode:
        if not parents:
            raise
    for ancestor in ancestors(args["path"]):
        _create_if_missing(client, ancestor)
    return dict(client.call("create", **args))


def ancestors(path: str) -> list[str]:
    """The proper ancestors of ``path`` below the root, outermost first: /a/b/c -> [/a, /a/b]."""
    from skylock.state.paths import ROOT, split_path, validate_path

    found = []
    parent = split_path(validate_path(path))[0] if path != ROOT else ROOT
    while parent != ROOT:
        found.append(parent)
        parent = split_path(parent)[0]
    return found[::-1]


def _create_if_missing(client: Any, path: str) -> None:
    from skylock.errors import NodeExists

    try:
        client.call("create", path=path, data=b"")
    except NodeExists:
        pass


@main.command()
@click.argument("path")
@click.option("--local", is_flag=True, help="Read from the server contacted, possibly stale (faster).")
@click.pass_context
def get(ctx: click.Context, path: str, local: bool) -> None:
    """Print a node's data (linearizable unless --local), then its stat on stderr.

    Example: skylock get /app/config
    """

    def human(r: dict[str, Any]) -> None:
        click.echo(r["data"].decode("utf-8", errors="replace"))
        click.echo(_stat_line(r["stat"]), err=True)

    _run(ctx, lambda c: c.call("get", path=path, consistency="local" if local else "linearizable"), human)


@main.command("set")
@click.argument("path")
@click.argument("data")
@click.option("--version", type=int, default=-1, show_default=True,
              help="Only if the node's version is this (-1: any).")
@click.pass_context
def set_(ctx: click.Context, path: str, data: str, version: int) -> None:
    """Replace a node's data.

    Example: skylock set /app/config "v2" --version 0
    """
    _run(ctx, lambda c: {"path": path, "stat": c.set(path, data, version=version)},
         lambda r: click.echo(f"{path}: {_stat_line(r['stat'])}"))


@main.command()
@click.argument("path")
@click.option("--version", type=int, default=-1, show_default=True,
              help="Only if the node's version is this (-1: any).")
@click.pass_context
def delete(ctx: click.Context, path: str, version: int) -> None:
    """Delete a node (it must have no children).

    Example: skylock delete /app/config
    """

    def fn(c: Any) -> dict[str, Any]:
        c.delete(path, version=version)
        return {"deleted": path}

    _run(ctx, fn, lambda r: click.echo(f"deleted {path}"))


@main.command()
@click.argument("path")
@click.pass_context
def children(ctx: click.Context, path: str) -> None:
    """List a node's children, one per line, sorted.

    Example: skylock children /services
    """
    _run(ctx, lambda c: {"path": path, "children": sorted(c.children(path))},
         lambda r: cli_auth.echo_lines(r["children"]))


@main.command()
@click.argument("path")
@click.pass_context
def exists(ctx: click.Context, path: str) -> None:
    """Say whether a node exists, with its stat; the exit status is 0 if it does, 1 if not
    (so `if skylock exists /x; then ...` works).

    Example: skylock exists /app/config
    """
    found: dict[str, Any] = {}

    def fn(c: Any) -> dict[str, Any]:
        found.update(path=path, exists=(stat := c.exists(path)) is not None, stat=stat)
        return found

    _run(ctx, fn, lambda r: click.echo(f"{path}: {_stat_line(r['stat'])}" if r["exists"]
                                       else f"{path} does not exist"))
    if not found["exists"]:
        ctx.exit(1)


@main.command()
@click.argument("path", default="/")
@click.pass_context
def tree(ctx: click.Context, path: str) -> None:
    """List PATH and every node below it, one per line, each level indented two spaces
    (children sorted). --json gives nested {"path", "children": [...]}.

    Example: skylock tree /services
    """

    def human(node: dict[str, Any], depth: int = 0) -> None:
        click.echo("  " * depth + (node["path"] if depth == 0 else node["path"].rsplit("/", 1)[1]))
        for child in node["children"]:
            human(child, depth + 1)

    _run(ctx, lambda c: walk_tree(c, path), human)


def walk_tree(client: Any, path: str) -> dict[str, Any]:
    """``{"path", "children": [...]}`` for ``path`` and everything below it, one level at a
    time with every read of a level in flight at once. A node deleted meanwhile is left out."""
    from skylock.errors import NoNode

    root: dict[str, Any] = {"path": path, "children": []}
    level = [root]
    while level:
        pending = [(node, client.children_async(node["path"])) for node in level]
        level = []
        for node, future in pending:
            try:
                names = sorted(future.result())
            except NoNode:
                if node is root:
                    raise
                continue
            prefix = node["path"].rstrip("/")
            node["children"] = [{"path": f"{prefix}/{name}", "children": []} for name in names]
            level += node["children"]
    return root


@main.command()
@click.argument("ops_file", metavar="FILE", type=click.File("r"))
@click.pass_context
def multi(ctx: click.Context, ops_file: Any) -> None:
    """Apply a transaction: all ops in FILE (JSON; - reads stdin) or none. FILE holds a list of
    ops, or {"ops": [...]}, as Client.multi takes them: {"op": "create"|"set"|"delete"|"check"|
    "check_lock", ...}; data is text, or base64 with "encoding": "base64". A failing op is named
    by its index. Prints one line per op.

    Example: skylock multi ops.json

    \b
    echo '[{"op": "check", "path": "/app", "version": 0},
           {"op": "create", "path": "/app/x", "data": "v1"}]' | skylock multi -
    """
    from skylock.errors import BadRequest, SkyLockError
    from skylock.http.ops_json import multi_ops_of

    try:
        ops = multi_ops_of(json.load(ops_file))
    except ValueError as err:  # not JSON
        raise _one_line(BadRequest(f"{ops_file.name} is not valid JSON: {err}")) from None
    except BadRequest as err:
        raise _one_line(err) from None

    def fn(c: Any) -> dict[str, Any]:
        try:
            return {"results": c.multi(ops)}
        except SkyLockError as err:
            i = err.details.get("index")
            if isinstance(i, int) and 0 <= i < len(ops) and f"ops[{i}]" not in err.message:
                err.message = f"ops[{i}] ({ops[i].get('op')} {ops[i].get('path', ops[i].get('name'))}): {err.message}"
            raise

    def human(r: dict[str, Any]) -> None:
        for op, result in zip(ops, r["results"]):
            target = result.get("path") or op.get("path") or op.get("name")
            version = f"  version {result['stat']['version']}" if result.get("stat") else ""
            click.echo(f"{op['op']:<10} {target}{version}")

    _run(ctx, fn, human)


# ---- locks ----------------------------------------------------------------------------------


def _holder_line(h: dict[str, Any]) -> str:
    owner = f"  owner {h['owner']}" if h.get("owner") else ""
    return f"{h['entry']}  token {h['token']}  session {h['session']}{owner}"


@main.command()
@click.argument("name")
@click.argument("session_id", callback=_session_id)
@click.option("--owner", default="", help="A label for the holder, shown by lockinfo.")
@click.option("--timeout", "wait", default=30.0, show_default=True, help="Seconds to wait for the lock.")
@click.option("--lock-delay", default=0.0, show_default=True,
              help="Seconds (at most 60) nobody gets the lock after this session expires holding it.")
@click.pass_context
def lock(ctx: click.Context, name: str, session_id: str, owner: str, wait: float, lock_delay: float) -> None:
    """Acquire lock NAME for SESSION_ID, waiting in FIFO order; print its lock id (alone on
    stdout: it is the secret that releases the entry) and, on stderr, the fencing token.

    The lock is held until `skylock unlock` or the end of the session (its TTL
    without heartbeats), not until this command exits.

    Example: skylock lock my-lock 3f2a9c... --owner batch-job --timeout 60
    """
    def human(r: dict[str, Any]) -> None:
        click.echo(r["lock_id"])  # alone on stdout, so L=$(skylock lock ...) keeps it
        click.echo(f"acquired {name}: fencing token {r['token']}; release with: skylock unlock {name} "
                   f"{r['lock_id']}", err=True)

    _run(ctx, lambda c: c.lock_acquire(name, owner=owner, timeout=wait, session_id=session_id,
                                       lock_delay=lock_delay), human)


@main.command()
@click.argument("name")
@click.argument("lock_id")
@click.option("--session", "session_id", callback=_session_id,
              help="The owning session id, checked too if given.")
@click.pass_context
def unlock(ctx: click.Context, name: str, lock_id: str, session_id: str | None) -> None:
    """Release lock NAME's entry LOCK_ID (the holder's or a waiter's): the lock id `skylock lock`
    printed, a credential on its own (the entry name lockinfo shows is not enough).

    Example: skylock unlock my-lock lock-0000000003.9f2c41d07a5be3816c0d2e4f5a6b7c8d
    """

    def fn(c: Any) -> dict[str, Any]:
        if session_id is None:
            return dict(c.call("lock.release", name=name, lock_id=lock_id))
        return c.lock_release(name, lock_id, session_id=session_id)

    def human(r: dict[str, Any]) -> None:
        nxt = r.get("next_holder")
        click.echo(f"released {r['released']}" + (f"; next holder {_holder_line(nxt)}" if nxt else ""))

    _run(ctx, fn, human)


@main.command()
@click.argument("name")
@click.pass_context
def lockinfo(ctx: click.Context, name: str) -> None:
    """Show who holds lock NAME (with its fencing token) and who waits, in order.

    Example: skylock lockinfo my-lock
    """

    def human(r: dict[str, Any]) -> None:
        click.echo(f"holder: {_holder_line(r['holder']) if r['holder'] else '(free)'}")
        for i, w in enumerate(r["waiters"], 1):
            click.echo(f"waiter {i}: {_holder_line(w)}")

    _run(ctx, lambda c: c.lock_info(name), human)


# ---- watches --------------------------------------------------------------------------------


@main.command()
@click.argument("path")
@click.option("--kind", type=click.Choice(["recursive", "data", "children", "exists"]), default="recursive",
              show_default=True, help="recursive: PATH and everything below; the others: that node only.")
@click.option("--from-zxid", type=int, default=None,
              help="Replay the retained events after this zxid first (resume where you left off).")
@click.pass_context
def watch(ctx: click.Context, path: str, kind: str, from_zxid: int | None) -> None:
    """Print events under PATH as they happen, one per line, until Ctrl-C.

    Example: skylock --json watch /services --kind children
    """
    from skylock.client import Event
    from skylock.errors import SkyLockError

    events: queue.Queue[Event] = queue.Queue()
    client = None
    try:
        try:
            client = _client(ctx)
            client.watch(path, events.put, kind=kind, from_zxid=from_zxid)
            click.echo(f"watching {path} ({kind}); Ctrl-C to stop", err=True)
            while True:
                try:
                    event = events.get(timeout=0.2)
                except queue.Empty:
                    continue
                _print_event(ctx, event)
                if event.type == "resync":
                    click.echo("resync: events were lost; watching again from now", err=True)
                    client.watch(path, events.put, kind=kind)
                elif kind != "recursive":
                    # one-shot kinds fire once: arm again from this event, so none is missed
                    client.watch(path, events.put, kind=kind, from_zxid=event.zxid)
        except SkyLockError as err:
            raise _one_line(err) from None
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopping: Ctrl-C must not cut the close short
        if client is not None:
            client.close()


def _print_event(ctx: click.Context, event: Any) -> None:
    if ctx.obj["json"]:
        wire = {k: v for k, v in dataclasses.asdict(event).items() if v is not None}
        click.echo(json.dumps(wire, sort_keys=True), nl=True)
        sys.stdout.flush()
    else:
        extra = f"  child {event.child}" if event.child else ""
        click.echo(f"{event.zxid}  {event.type:<16} {event.path}{extra}")
        sys.stdout.flush()


# ---- global options, also after the command ---------------------------------------------------


def _override(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """An option given after the command wins over the same one before it (or its default)."""
    if value is not None and value is not False:
        ctx.ensure_object(dict)[param.name or ""] = value


def _global_options() -> list[click.Option]:
    return [
        click.Option(["--servers"], callback=_override, expose_value=False, default=None,
                     help="As before the command: host:port client addresses, comma-separated."),
        click.Option(["--token"], callback=_override, expose_value=False, default=None,
                     help="As before the command: bearer token for every request."),
        click.Option(["--json"], is_flag=True, default=False, callback=_override, expose_value=False,
                     help="As before the command: print results as JSON."),
        click.Option(["--timeout"], type=float, callback=_override, expose_value=False, default=None,
                     help="As before the command: seconds to wait for the cluster."),
    ]


def _accept_global_options(group: click.Group) -> None:
    """Let ``skylock status --servers ...`` work like ``skylock --servers ... status``: every
    client command also takes the group's options. A command whose own option has the same
    name keeps it (``lock --timeout`` is the lock wait, which bounds that command anyway)."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _accept_global_options(command)
            if not command.invoke_without_command:  # ``leader`` is a command and a group
                continue
        if command.name == "serve":
            continue
        taken = {opt for param in command.params for opt in getattr(param, "opts", [])}
        command.params.extend(o for o in _global_options() if not set(o.opts) & taken)


main.add_command(cli_auth.auth)
main.add_command(cli_snapshot.snapshot)
main.add_command(cli_member.member)
leader.add_command(cli_member.leader_transfer)
_accept_global_options(main)


if __name__ == "__main__":
    main()
