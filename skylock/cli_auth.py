"""``skylock auth ...``: manage users, roles and grants of a secure cluster.

Examples::

    export SKYLOCK_TOKEN=<root token>
    skylock auth role add app-reader
    skylock auth role grant app-reader read /app
    skylock auth user add alice              # prints alice's new token, once
    skylock auth user grant-role alice app-reader
    SKYLOCK_TOKEN=<alice's token> skylock auth whoami

Every command but ``whoami`` needs admin on ``/`` (the root user always has it).
Kept apart from skylock/cli.py, which only registers the ``auth`` group; it imports
nothing from there, so ``python -m skylock.cli`` loads it without an import cycle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Callable

import click


def echo_lines(lines: Iterable[str]) -> None:
    """One line of output per item (nothing at all for none)."""
    for line in lines:
        click.echo(line)


PERMISSIONS = click.Choice(["read", "write", "lock", "admin"])


def _call(ctx: click.Context, op: str, human: Callable[[Any], None], **args: Any) -> None:
    """Send one auth op with the global options' servers, timeout and token; errors are one line."""
    from skylock.client import Client
    from skylock.errors import SkyLockError

    obj = ctx.obj or {}
    client = Client(obj.get("servers", "127.0.0.1:7001"), request_timeout=obj.get("timeout", 10.0),
                    token=obj.get("token"))
    try:
        result = client.call(op, **args)
    except SkyLockError as err:
        raise click.ClickException(f"{err.code}: {err.message}") from None
    finally:
        client.close()
    if obj.get("json"):
        click.echo(json.dumps(result, sort_keys=True))
    else:
        human(result)


@click.group()
def auth() -> None:
    """Users, roles and grants (secure mode).

    A user is a name and a bearer token; a role is a set of grants; a grant is a
    permission (read, write, lock, admin) on a path prefix. Locks are checked as
    /locks/NAME. Send your own token with --token or SKYLOCK_TOKEN.

    Example: skylock --token "$ROOT_TOKEN" auth user list
    """


@auth.command()
@click.pass_context
def whoami(ctx: click.Context) -> None:
    """Show the user your token names and its grants.

    Example: skylock --token "$MY_TOKEN" auth whoami
    """

    def human(r: dict[str, Any]) -> None:
        if not r["auth_enabled"]:
            click.echo("auth is disabled on this cluster: every request is allowed")
            return
        click.echo(r["user"])
        for g in r["grants"]:
            click.echo(f"  {g['permission']:<6} {g['prefix']}")

    _call(ctx, "auth.whoami", human)


# ---- users --------------------------------------------------------------------------------------


@auth.group()
def user() -> None:
    """Add, delete and list users; give them roles.

    Example: skylock auth user add alice
    """


@user.command("add")
@click.argument("name")
@click.option("--token", "new_token", default=None,
              help="The new user's token (at least 16 characters); left out, the cluster makes one. "
                   "Your own token goes before the command or in SKYLOCK_TOKEN.")
@click.pass_context
def user_add(ctx: click.Context, name: str, new_token: str | None) -> None:
    """Add a user and print its token alone on stdout (store it: it is not shown again).

    Example: skylock auth user add alice
    """
    _call(ctx, "auth.user_add", lambda r: click.echo(r.get("token", new_token)), name=name, token=new_token)


@user.command("delete")
@click.argument("name")
@click.pass_context
def user_delete(ctx: click.Context, name: str) -> None:
    """Delete a user: its token stops working on each node as soon as the change applies there.

    Example: skylock auth user delete alice
    """
    _call(ctx, "auth.user_delete", lambda r: click.echo(f"user {name} deleted"), name=name)


@user.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """List users and their roles (never their tokens).

    Example: skylock auth user list
    """
    _call(ctx, "auth.user_list",
          lambda r: echo_lines(f"{u['name']:<24} {', '.join(u['roles']) or '-'}" for u in r["users"]))


@user.command("grant-role")
@click.argument("name")
@click.argument("role")
@click.pass_context
def user_grant_role(ctx: click.Context, name: str, role: str) -> None:
    """Give a user a role.

    Example: skylock auth user grant-role alice app-reader
    """
    _call(ctx, "auth.user_grant_role", lambda r: click.echo(f"user {name} has role {role}"), name=name, role=role)


@user.command("revoke-role")
@click.argument("name")
@click.argument("role")
@click.pass_context
def user_revoke_role(ctx: click.Context, name: str, role: str) -> None:
    """Take a role from a user.

    Example: skylock auth user revoke-role alice app-reader
    """
    _call(ctx, "auth.user_revoke_role", lambda r: click.echo(f"user {name} no longer has role {role}"),
          name=name, role=role)


# ---- roles --------------------------------------------------------------------------------------


@auth.group()
def role() -> None:
    """Add, delete and list roles; grant and revoke permissions on path prefixes.

    Example: skylock auth role grant app-reader read /app
    """


@role.command("add")
@click.argument("name")
@click.pass_context
def role_add(ctx: click.Context, name: str) -> None:
    """Add a role with no grants.

    Example: skylock auth role add app-reader
    """
    _call(ctx, "auth.role_add", lambda r: click.echo(f"role {name} added"), name=name)


@role.command("delete")
@click.argument("name")
@click.pass_context
def role_delete(ctx: click.Context, name: str) -> None:
    """Delete a role (and take it from every user).

    Example: skylock auth role delete app-reader
    """
    _call(ctx, "auth.role_delete", lambda r: click.echo(f"role {name} deleted"), name=name)


@role.command("grant")
@click.argument("name")
@click.argument("permission", type=PERMISSIONS)
@click.argument("prefix")
@click.pass_context
def role_grant(ctx: click.Context, name: str, permission: str, prefix: str) -> None:
    """Grant PERMISSION on PREFIX: the path and everything below it ('/app' covers /app/x,
    not /apple); a PREFIX ending in '*' is a plain string prefix ('/locks/job-*').

    Example: skylock auth role grant workers lock /locks/jobs
    """
    _call(ctx, "auth.role_grant", lambda r: click.echo(f"role {name}: {permission} on {prefix}"),
          name=name, permission=permission, prefix=prefix)


@role.command("revoke")
@click.argument("name")
@click.argument("permission", type=PERMISSIONS)
@click.argument("prefix")
@click.pass_context
def role_revoke(ctx: click.Context, name: str, permission: str, prefix: str) -> None:
    """Revoke a grant exactly as it was given.

    Example: skylock auth role revoke app-reader read /app
    """
    _call(ctx, "auth.role_revoke", lambda r: click.echo(f"role {name}: no more {permission} on {prefix}"),
          name=name, permission=permission, prefix=prefix)


@role.command("list")
@click.pass_context
def role_list(ctx: click.Context) -> None:
    """List roles and their grants.

    Example: skylock auth role list
    """

    def human(r: dict[str, Any]) -> None:
        for each in r["roles"]:
            click.echo(each["name"])
            for g in each["grants"]:
                click.echo(f"  {g['permission']:<6} {g['prefix']}")

    _call(ctx, "auth.role_list", human)
