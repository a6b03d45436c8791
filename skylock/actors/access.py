"""Who may do what: the gateway's authentication and authorization (secure mode).

The replicated auth table belongs to the Store (it changes only by applying the log).
After every change the Store *publishes* an immutable ``AuthView`` here with
``publish``: one reference swap, safe from any thread. Everything else in this class
(the token cache) belongs to the thread that serves the client socket, which alone calls
``check``, so a request is authorized with no hand-off and no lock:

- the token is hashed (sha256) and looked up in the view, or compared with the root
  hash from the config; the resulting ``Principal`` is cached per token until the next
  view is published (so a deleted user's token stops working here as soon as the
  deletion has been applied on this node);
- each op needs grants covering its path(s), decided before anything is proposed, so a
  denied request changes nothing.

What each op needs (``needs``): reads (get, exists, children, watch.add) need ``read``
on the path — a watch is allowed only where its owner may read, and since every event
of a watch on P concerns P or a path below it, that read grant covers every event;
create/set/delete need ``write`` on the path (every op of a multi is checked; ``check``
needs ``read``); a lock named N is the path ``/locks/N``: lock.acquire, lock.release and
``check_lock`` need ``lock`` on it, lock.info ``lock`` or ``read``; session.list ``read`` on
``/`` (it names ephemerals and lock entries anywhere); the other session ops,
watch.remove, cluster.status/leader, member.list and auth.whoami need only a valid token; other
auth ops, debug.state_hash, the backup ops (snapshot.begin, snapshot.chunk: a backup holds every
node's data and every session's id) and the membership changes (member.add/promote/remove,
leader.transfer) need ``admin`` on ``/``. ``ping`` needs nothing.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, Callable

from skylock.errors import PermissionDenied, Unauthenticated
from skylock.state.auth import EMPTY_VIEW, ROOT, AuthView, Principal
from skylock.state.locks import LOCKS_ROOT
from skylock.state.tree import SEQUENCE_DIGITS

#: Tokens remembered between view changes; past it the cache starts over. Only tokens that
#: name a user are cached (one per user, plus root), so unknown tokens cannot fill it.
MAX_CACHED_TOKENS = 4096

#: Ops anyone may send, token or not.
OPEN_OPS = frozenset({"ping"})
ADMIN = (("admin",), "/")


@dataclass(frozen=True, slots=True)
class Need:
    """One of ``permissions`` on ``path``."""

    permissions: tuple[str, ...]
    path: str


def token_sha256(token: str) -> str:
    return sha256(token.encode("utf-8")).hexdigest()


def lock_path(name: str) -> str:
    """The path a lock's grants are checked against: where its queue lives."""
    return f"{LOCKS_ROOT}/{name}"


def _on_path(*permissions: str) -> Callable[[dict[str, Any]], list[Need]]:
    return lambda args: [Need(permissions, args["path"])]


def _on_lock(*permissions: str) -> Callable[[dict[str, Any]], list[Need]]:
    return lambda args: [Need(permissions, lock_path(args["name"]))]


def _create(args: dict[str, Any]) -> list[Need]:
    # a sequential create writes path + a counter: check a path of that shape
    suffix = "0" * SEQUENCE_DIGITS if args.get("sequential") else ""
    return [Need(("write",), args["path"] + suffix)]


def _multi(args: dict[str, Any]) -> list[Need]:
    return [need for op in args["ops"] for need in _MULTI_NEEDS[op["op"]](op)]


def _none(args: dict[str, Any]) -> list[Need]:
    return []


def _read_everything(args: dict[str, Any]) -> list[Need]:
    """The session list names ephemeral nodes and lock entries anywhere in the tree."""
    return [Need(("read",), "/")]


def _admin(args: dict[str, Any]) -> list[Need]:
    return [Need(*ADMIN)]


_MULTI_NEEDS: dict[str, Callable[[dict[str, Any]], list[Need]]] = {
    "create": _create,
    "set": _on_path("write"),
    "delete": _on_path("write"),
    "check": _on_path("read"),
    "check_lock": _on_lock("lock"),
}

NEEDS: dict[str, Callable[[dict[str, Any]], list[Need]]] = {
    "get": _on_path("read"),
    "exists": _on_path("read"),
    "children": _on_path("read"),
    "watch.add": _on_path("read"),
    "create": _create,
    "set": _on_path("write"),
    "delete": _on_path("write"),
    "multi": _multi,
    "lock.acquire": _on_lock("lock"),
    "lock.release": _on_lock("lock"),
    "lock.info": _on_lock("lock", "read"),
    "session.list": _read_everything,
    "session.open": _none,
    "session.heartbeat": _none,
    "session.close": _none,
    "watch.remove": _none,
    "cluster.status": _none,
    "cluster.leader": _none,
    "auth.whoami": _none,
    "member.list": _none,  # where the members are, like cluster.status; changing them needs admin
    "debug.state_hash": _admin,
    "snapshot.begin": _admin,
    "snapshot.chunk": _admin,
}


def needs(op: str, args: dict[str, Any]) -> list[Need]:
    """What ``op`` with ``args`` needs; an op not listed (auth.*) needs admin: closed by default."""
    return NEEDS.get(op, _admin)(args)


class Access:
    def __init__(self, *, enabled: bool, root_token_sha256: str = "") -> None:
        self.enabled = enabled
        self._root_hash = root_token_sha256
        #: the Store's latest publication (immutable); replaced, never changed
        self.view: AuthView = EMPTY_VIEW
        self._cached_view: AuthView = EMPTY_VIEW
        self._cache: dict[str, Principal] = {}

    def publish(self, view: AuthView) -> None:
        """From the Store, after an auth change applied (or a snapshot restored)."""
        self.view = view

    def check(self, token: str | None, op: str, args: dict[str, Any]) -> Principal | None:
        """The principal the request acts for (None in open mode or for ``ping``); raises
        ``Unauthenticated`` or ``PermissionDenied``. I/O thread only."""
        if not self.enabled or op in OPEN_OPS:
            return None
        principal = self.authenticate(token)
        for need in needs(op, args):
            if not any(principal.allows(p, need.path) for p in need.permissions):
                raise PermissionDenied(
                    f"user {principal.name!r} may not {op} {need.path}: that needs "
                    f"{' or '.join(need.permissions)} on a prefix covering it",
                    op=op, path=need.path, permission=need.permissions[0])
        return principal

    def authenticate(self, token: str | None) -> Principal:
        if token is None:
            raise Unauthenticated("this cluster requires a token: send one with every request")
        view = self.view
        if view is not self._cached_view:
            self._cache, self._cached_view = {}, view
        principal = self._cache.get(token)
        if principal is None:
            principal = self._resolve(token_sha256(token), view)
            if len(self._cache) >= MAX_CACHED_TOKENS:
                self._cache = {}
            self._cache[token] = principal
        return principal

    def is_root_hash(self, digest: str) -> bool:
        return bool(self._root_hash) and hmac.compare_digest(digest, self._root_hash)

    def _resolve(self, digest: str, view: AuthView) -> Principal:
        if self.is_root_hash(digest):
            return ROOT
        principal = view.principal(digest)
        if principal is None:
            raise Unauthenticated("the token names no user (unknown, or the user was deleted)")
        return principal
