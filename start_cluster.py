"""Run a local SkyLock cluster: one process per node, stopped cleanly by Ctrl-C.

    python start_cluster.py                      # the 3 nodes of configs/node1..3.yaml
    python start_cluster.py --nodes 5 --data-dir /tmp/sky   # another layout, generated configs
    python start_cluster.py --secure             # CURVE, HTTPS and a root token (see below)

A fresh data directory bootstraps a new cluster; an existing one recovers it.
Each node's line gives its PID. A node that exits is reported with its exit code
and the command that restarts it; the other nodes keep running.

``--secure`` generates the configs in the data directory (default ./data) with
``security.mode: secure`` and ``auth.enabled``; on the first start it also makes the
CURVE keys, a CA and node certificates and a root token there (``skylock.security``),
later starts reuse them. It prints the two ``export`` lines a client shell needs.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import time
from pathlib import Path

import click

HERE = Path(__file__).resolve().parent


def run_node(config_path: str, data_dir: str | None, log_level: str, log_format: str = "text") -> None:
    """Child process: one node until SIGINT/SIGTERM."""
    from skylock.cli import configure_logging
    from skylock.config import load_config
    from skylock.node import Node

    overrides = {"storage.data_dir": data_dir} if data_dir else None
    cfg = load_config(config_path, overrides)
    view = configure_logging(log_level, log_format, cfg.cluster.node_id)
    node = Node(cfg, raft_view=view)
    signal.signal(signal.SIGTERM, lambda *_: node.request_stop())
    signal.signal(signal.SIGINT, lambda *_: node.request_stop())
    node.start()
    node.wait()
    node.stop()


def wait_for_leader(servers: list[str], timeout: float, credentials: Path | None = None) -> dict | None:
    from skylock.client import Client
    from skylock.errors import SkyLockError

    deadline = time.monotonic() + timeout
    with Client(servers, credentials=credentials, request_timeout=2.0, attempt_timeout=0.5) as client:
        while time.monotonic() < deadline:
            try:
                return client.leader()
            except SkyLockError:
                time.sleep(0.1)
    return None


def restart_command(config: Path, data_dir: str | None) -> str:
    """The command that runs one node again by itself, as start_cluster.py ran it."""
    try:
        config = config.resolve().relative_to(Path.cwd())
    except ValueError:
        pass  # not under the current directory: the absolute path
    return f"skylock serve --config {config}" + (f" --data-dir {data_dir}" if data_dir else "")


def exit_description(code: int | None) -> str:
    """``exited with code 1``, or for a signal ``exited with code -9 (SIGKILL)``."""
    if code is not None and code < 0:
        try:
            return f"exited with code {code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"exited with code {code}"


@click.command()
@click.option("--nodes", default=3, show_default=True, help="How many nodes to run.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Keep node data under this directory (default: each config's storage.data_dir; "
                   "with --secure, ./data/secure-cluster).")
@click.option("--base-port", type=int, default=None,
              help="Generate the layout instead of using configs/: client ports start here, peers at +100, "
                   "HTTP at +200 (default 7001, with HTTP from 8080). Implied by --nodes other than 3.")
@click.option("--secure", is_flag=True,
              help="Secure mode: CURVE on every ZeroMQ socket, HTTPS, a root token; keys, certificates "
                   "and credentials.yaml are made in the data directory on the first start and reused.")
@click.option("--log-level", default="info", show_default=True)
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="The nodes' log lines: json gives one object per line with node_id, term and role.")
def main(nodes: int, data_dir: str | None, base_port: int | None, secure: bool, log_level: str,
         log_format: str) -> None:
    """Start a local cluster and keep it running until Ctrl-C."""
    from skylock.config import load_config
    from skylock.layout import local_cluster
    from skylock.security import CREDENTIALS_FILE

    credentials = None
    if nodes == 3 and base_port is None and not secure:
        configs = [HERE / "configs" / f"node{i}.yaml" for i in (1, 2, 3)]
        data_dirs = [str(Path(data_dir) / f"node{i}") if data_dir else None for i in (1, 2, 3)]
    else:
        # a secure cluster keeps its keys, certificates and data apart from the open one's
        root = Path(data_dir or ("./data/secure-cluster" if secure else "./data"))
        http_base = 8080 if base_port is None else base_port + 200
        base_port = base_port or 7001
        ports = list(range(base_port, base_port + nodes))
        configs = local_cluster(nodes, root, client_ports=ports, peer_ports=[p + 100 for p in ports],
                                http_ports=[http_base + i for i in range(nodes)], secure=secure)
        data_dirs = [None] * nodes
        if secure:
            credentials = (root / CREDENTIALS_FILE).absolute()
    ctx = multiprocessing.get_context("spawn")
    procs = []
    restart = {}
    for path, ddir in zip(configs, data_dirs):
        cfg = load_config(path, {"storage.data_dir": ddir} if ddir else None)
        me = cfg.me
        proc = ctx.Process(target=run_node, args=(str(path), ddir, log_level, log_format), name=f"skylock-node{me.id}")
        proc.start()
        click.echo(f"node {me.id}: pid {proc.pid}  clients {me.client_address}  peers {me.peer_address}  "
                   f"http {me.http_port}  data {cfg.storage.data_dir}")
        procs.append((me, proc))
        restart[me.id] = restart_command(path, ddir) + (f" --log-format {log_format}" if log_format != "text" else "")
    servers = [me.client_address for me, _ in procs]
    stopping = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    leader = wait_for_leader(servers, timeout=30.0, credentials=credentials)
    if leader:
        click.echo(f"leader: node {leader['leader_id']} at {leader['client_address']} (term {leader['term']})")
    else:
        click.echo("no leader elected yet (is a majority of the nodes up?)", err=True)
    click.echo(f"cluster running; servers={','.join(servers)}; Ctrl-C to stop")
    if credentials is not None:
        from skylock.security import load_credentials

        creds = load_credentials(credentials)
        click.echo(f"secure mode: HTTPS {' '.join(creds.http)} (CA {creds.ca_cert}); for clients:")
        click.echo(f"export SKYLOCK_CREDENTIALS={credentials}")
        click.echo(f"export SKYLOCK_TOKEN={creds.token}")
    reported: set[int] = set()
    while not stopping:
        for me, proc in procs:
            if me.id not in reported and not proc.is_alive():
                reported.add(me.id)
                click.echo(f"node {me.id} (pid {proc.pid}) {exit_description(proc.exitcode)}; the other nodes "
                           f"keep running. Restart it with: {restart[me.id]}", err=True)
        if len(reported) == len(procs):
            click.echo("every node exited", err=True)
            break
        time.sleep(0.2)
    for _, proc in procs:
        if proc.is_alive():
            proc.terminate()
    code = 0
    for me, proc in procs:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
            proc.join()
        click.echo(f"node {me.id} stopped (exit {proc.exitcode})")
        code = code or (0 if proc.exitcode in (0, -signal.SIGTERM) else 1)
    sys.exit(code)


if __name__ == "__main__":
    main()
