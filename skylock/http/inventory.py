"""Read-only REST routes that list what the cluster holds: members, sessions and locks.

The per-item routes answer one question each (``/v1/cluster/status``, ``/v1/locks/{name}``);
an operator (and the web console) also wants the whole picture at once:

- ``GET /v1/cluster/members``: each member's Raft position as ``cluster.status`` gathers it,
  plus how far its applied index is behind the leader's commit (``lag``) and the same
  verdict ``/health`` gives for that member (``health``: ``ok`` or the reason it is unfit);
- ``GET /v1/sessions``: the open sessions by public id with their TTL and ephemeral nodes
  (``session.list``, which needs ``read`` on ``/`` in secure mode: it names every session's
  ephemerals); never a session's secret id;
- ``GET /v1/locks``: every lock under ``/locks`` with its holder, fencing token and FIFO
  waiters (``children`` of ``/locks``, then ``lock.info`` of each).

Each is an ordinary client op sent with the caller's bearer token, so secure mode decides
what the caller may list exactly as it does for the single-item routes.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from aiohttp import web

from skylock.errors import NoNode
from skylock.http.health import verdict
from skylock.state.locks import LOCKS_ROOT

#: ``api._call``: one client op with the request's token, answered or raised as a typed error.
Call = Callable[[web.Request, str, dict[str, Any]], Awaitable[Any]]


def member_view(member: dict[str, Any], leader_commit: int) -> dict[str, Any]:
    """One member of ``cluster.status`` with its ``lag`` and ``health`` (None when unreachable)."""
    if not member.get("reachable"):
        return {**member, "lag": None, "health": "unreachable"}
    lag = max(0, leader_commit - int(member["applied"]))
    return {**member, "lag": lag, "health": verdict(member) or "ok"}


def members_view(status: dict[str, Any]) -> dict[str, Any]:
    """``cluster.status`` with each member's lag behind the leader's commit (the highest
    commit any reachable member reports when the leader did not answer)."""
    nodes = status.get("nodes", [])
    reachable = [n for n in nodes if n.get("reachable")]
    by_id = {int(n["id"]): n for n in reachable}
    leader = by_id.get(int(status.get("leader") or 0))
    commit = int(leader["commit"]) if leader else max((int(n["commit"]) for n in reachable), default=0)
    return {"leader": status.get("leader"), "term": status.get("term"), "commit": commit,
            "members": [member_view(n, commit) for n in nodes]}


def routes(call: Call) -> list[web.RouteDef]:
    """The inventory routes, each sending its ops through ``call``."""

    async def members(request: web.Request) -> web.Response:
        return web.json_response(members_view(await call(request, "cluster.status", {})))

    async def sessions(request: web.Request) -> web.Response:
        result = await call(request, "session.list", {})
        return web.json_response({"sessions": result["sessions"], "zxid": result.get("zxid")})

    async def locks(request: web.Request) -> web.Response:
        try:
            names = (await call(request, "children", {"path": LOCKS_ROOT}))["children"]
        except NoNode:
            names = []  # no lock was ever taken
        infos = await asyncio.gather(*(call(request, "lock.info", {"name": n}) for n in names))
        return web.json_response({"locks": list(infos)})

    return [
        web.get("/v1/cluster/members", members),
        web.get("/v1/sessions", sessions),
        web.get("/v1/locks", locks),
    ]


__all__ = ["routes", "members_view", "member_view"]
