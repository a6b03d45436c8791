"""``skylock member ...`` and ``skylock leader transfer``: change who is in the cluster.

Examples::

    skylock member list
    skylock member add 4 --peer-address 127.0.0.1:7104 --client-address 127.0.0.1:7004 --http-port 8083
    skylock serve --config configs/node4.yaml --join      # on the new machine: it catches up as a learner
    skylock member promote 4                              # once it has caught up: it votes
    skylock member remove 1
    skylock leader transfer 3                             # or without an id: the most caught-up voter

Changes are made one at a time on the leader (any server given is fine: the client moves
on to the leader) and answered once committed. In secure mode they need admin on ``/``;
``member list`` needs a valid token. Kept apart from skylock/cli.py, which registers the
``member`` group and the ``transfer`` subcommand of ``leader``; the helpers it uses from
there are imported when a command runs, so there is no import cycle.
"""

from __future__ import annotations

from typing import Any

import click


def _run(ctx: click.Context, op: str, human: Any, **args: Any) -> None:
    from skylock.cli import _run as run_with_client

    run_with_client(ctx, lambda client: client.call(op, **args), human)


def _show(result: dict[str, Any]) -> None:
    click.echo(f"leader: node {result['leader']}  term {result['term']}" if result["leader"]
               else f"leader: none  term {result['term']}")
    for m in result["members"]:
        mark = "*" if m["leader"] else " "
        click.echo(f" {mark}node {m['id']:<4} {m['role']:<8} peer {m.get('peer_address', '?'):<22} "
                   f"client {m.get('client_address', '?'):<22} http {m.get('http_port', '?')}")


@click.group()
def member() -> None:
    """List, add, promote and remove cluster members.

    A new member joins as a learner (it receives the log but does not vote), catches
    up, and is then promoted to voter.

    Example: skylock member list
    """


@member.command("list")
@click.pass_context
def member_list(ctx: click.Context) -> None:
    """Show every member: voter or learner, and its addresses.

    Example: skylock member list
    """
    _run(ctx, "member.list", _show)


@member.command("add")
@click.argument("node_id", type=int)
@click.option("--peer-address", required=True, help="host:port the other nodes reach it on.")
@click.option("--client-address", required=True, help="host:port clients reach it on.")
@click.option("--http-port", type=int, default=0, show_default=True, help="Its REST API port.")
@click.pass_context
def member_add(ctx: click.Context, node_id: int, peer_address: str, client_address: str, http_port: int) -> None:
    """Add a member as a learner; then start it with ``skylock serve --config FILE --join``.

    Example: skylock member add 4 --peer-address 127.0.0.1:7104 --client-address 127.0.0.1:7004 --http-port 8083
    """
    _run(ctx, "member.add", _show, id=node_id, peer_address=peer_address, client_address=client_address,
         http_port=http_port)


@member.command("promote")
@click.argument("node_id", type=int)
@click.pass_context
def member_promote(ctx: click.Context, node_id: int) -> None:
    """Make a learner a voter (do it once it has caught up: see ``skylock status``).

    Example: skylock member promote 4
    """
    _run(ctx, "member.promote", _show, id=node_id)


@member.command("remove")
@click.argument("node_id", type=int)
@click.pass_context
def member_remove(ctx: click.Context, node_id: int) -> None:
    """Remove a member (the leader too: it hands over, then steps down); then stop it.

    Example: skylock member remove 1
    """
    _run(ctx, "member.remove", _show, id=node_id)


@click.command("transfer")
@click.argument("node_id", type=int, required=False, default=0)
@click.pass_context
def leader_transfer(ctx: click.Context, node_id: int) -> None:
    """Hand leadership to voter NODE_ID (default: the most caught-up voter).

    Example: skylock leader transfer 3
    """
    _run(ctx, "leader.transfer",
         lambda r: click.echo(f"node {r['leader']} hands leadership to node {r['transferee']}"), id=node_id)
