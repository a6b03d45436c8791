"""Users, roles and grants: who may do what, as agreed through the log (etcd-style RBAC).

- A **user** is a name and the sha256 of its bearer token (the token itself is never
  stored, replicated or logged) and a set of role names.
- A **role** is a name and a set of **grants**; a grant is ``(permission, prefix)`` with
  permission ``read``, ``write``, ``lock`` or ``admin``.
- A prefix covers a path when the path *is* the prefix or lies below it (``/app`` covers
  ``/app`` and ``/app/x``, not ``/apple``); a prefix ending in ``*`` is a plain string
  prefix (``/locks/jobs-*`` covers ``/locks/jobs-1``). ``/`` covers everything.
- ``admin`` implies every other permission on its prefix; the other three are independent.

The root user is not in this table: it is defined by a token hash in every node's
config. ``AuthTable`` is the mutable table the state machine owns (every change records
its undo); ``AuthView`` is an immutable copy that the node hands to the thread that
checks requests, so the two never share mutable state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

from skylock.errors import BadRequest, NodeExists, NoNode

from .journal import Txn
from .paths import MAX_PATH_LENGTH, validate_path

PERMISSIONS = ("read", "write", "lock", "admin")
#: The name the config-defined root user goes by; no table user may take it.
ROOT_USER = "root"
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def validate_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise BadRequest(f"bad {kind} name {str(name)[:70]!r}: use 1-64 of A-Z a-z 0-9 _ . @ -")
    return name


def validate_token_hash(value: object) -> str:
    if not isinstance(value, str) or not _SHA256_HEX.fullmatch(value):
        raise BadRequest("a token hash must be 64 lowercase hex digits (sha256)")
    return value


def validate_prefix(prefix: object) -> str:
    """A node path, or a path-like string ending in ``*`` (a string prefix)."""
    if isinstance(prefix, str) and prefix.endswith("*"):
        stem = prefix[:-1]
        if not stem.startswith("/") or "*" in stem or len(prefix) > MAX_PATH_LENGTH:
            raise BadRequest(f"bad prefix {prefix[:70]!r}: '*' may only end an absolute path")
        return prefix
    return validate_path(prefix)


def covers(prefix: str, path: str) -> bool:
    """Whether a grant on ``prefix`` applies to ``path`` (see the module docstring)."""
    if prefix.endswith("*"):
        return path.startswith(prefix[:-1])
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


@dataclass(frozen=True, order=True, slots=True)
class Grant:
    permission: str
    prefix: str

    def allows(self, permission: str, path: str) -> bool:
        return (self.permission == permission or self.permission == "admin") and covers(self.prefix, path)

    def to_wire(self) -> dict[str, str]:
        return {"permission": self.permission, "prefix": self.prefix}


def make_grant(permission: object, prefix: object) -> Grant:
    if permission not in PERMISSIONS:
        raise BadRequest(f"bad permission {str(permission)[:20]!r}: use one of {', '.join(PERMISSIONS)}")
    return Grant(str(permission), validate_prefix(prefix))


@dataclass(frozen=True, slots=True)
class User:
    token_sha256: str
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Principal:
    """Whom a request acts for: a user's name and the union of its roles' grants."""

    name: str
    grants: tuple[Grant, ...] = ()
    root: bool = False

    def allows(self, permission: str, path: str) -> bool:
        return self.root or any(g.allows(permission, path) for g in self.grants)


ROOT = Principal(ROOT_USER, (Grant("admin", "/"),), root=True)


class AuthView:
    """An immutable copy of the table at one point of the log: what a node enforces."""

    __slots__ = ("users", "roles", "_by_hash")

    def __init__(self, users: Mapping[str, User], roles: Mapping[str, frozenset[Grant]]) -> None:
        self.users: Mapping[str, User] = MappingProxyType(dict(users))
        self.roles: Mapping[str, frozenset[Grant]] = MappingProxyType(dict(roles))
        self._by_hash = MappingProxyType({u.token_sha256: name for name, u in users.items()})

    def principal(self, token_sha256: str) -> Principal | None:
        """The user whose token hashes to ``token_sha256``, with its grants; None if nobody's."""
        name = self._by_hash.get(token_sha256)
        if name is None:
            return None
        grants = {g for role in self.users[name].roles for g in self.roles.get(role, ())}
        return Principal(name, tuple(sorted(grants)))

    def user_list(self) -> list[dict[str, Any]]:
        return [{"name": n, "roles": sorted(u.roles)} for n, u in sorted(self.users.items())]

    def role_list(self) -> list[dict[str, Any]]:
        return [{"name": n, "grants": [g.to_wire() for g in sorted(gs)]} for n, gs in sorted(self.roles.items())]


EMPTY_VIEW = AuthView({}, {})


class AuthTable:
    """The replicated table. Each method checks everything before it changes anything
    and records how to undo its change in ``txn``, like the data tree does."""

    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._roles: dict[str, frozenset[Grant]] = {}
        self._hashes: dict[str, str] = {}  # token hash -> user name (one user per token)

    # ---- changes ----------------------------------------------------------------------

    def user_add(self, txn: Txn, name: str, token_sha256: str) -> None:
        validate_name("user", name)
        validate_token_hash(token_sha256)
        if name == ROOT_USER:
            raise BadRequest(f"{ROOT_USER!r} is the config-defined root user; choose another name")
        if name in self._users:
            raise NodeExists(f"user {name!r} already exists", user=name)
        if token_sha256 in self._hashes:
            raise NodeExists("another user already has this token; use a different token")
        self._set_user(txn, name, User(token_sha256))

    def user_delete(self, txn: Txn, name: str) -> None:
        self._require_user(name)
        self._set_user(txn, name, None)

    def user_grant_role(self, txn: Txn, name: str, role: str) -> None:
        user = self._require_user(name)
        self._require_role(role)
        self._set_user(txn, name, User(user.token_sha256, user.roles | {role}))

    def user_revoke_role(self, txn: Txn, name: str, role: str) -> None:
        user = self._require_user(name)
        if role not in user.roles:
            raise NoNode(f"user {name!r} does not have role {role!r}", user=name, role=role)
        self._set_user(txn, name, User(user.token_sha256, user.roles - {role}))

    def role_add(self, txn: Txn, name: str) -> None:
        validate_name("role", name)
        if name in self._roles:
            raise NodeExists(f"role {name!r} already exists", role=name)
        self._set_role(txn, name, frozenset())

    def role_delete(self, txn: Txn, name: str) -> None:
        """Deletes the role and takes it from every user that had it."""
        self._require_role(name)
        for user_name, user in sorted(self._users.items()):
            if name in user.roles:
                self._set_user(txn, user_name, User(user.token_sha256, user.roles - {name}))
        self._set_role(txn, name, None)

    def role_grant(self, txn: Txn, name: str, permission: str, prefix: str) -> None:
        grants = self._require_role(name)
        self._set_role(txn, name, grants | {make_grant(permission, prefix)})

    def role_revoke(self, txn: Txn, name: str, permission: str, prefix: str) -> None:
        grants = self._require_role(name)
        grant = make_grant(permission, prefix)
        if grant not in grants:
            raise NoNode(f"role {name!r} has no grant {permission} on {prefix}", role=name)
        self._set_role(txn, name, grants - {grant})

    # ---- reading ----------------------------------------------------------------------

    def view(self) -> AuthView:
        return AuthView(self._users, self._roles)

    def to_wire(self) -> dict[str, Any]:
        """Canonical (sorted) form for snapshots and the state hash."""
        return {
            "users": [[n, u.token_sha256, sorted(u.roles)] for n, u in sorted(self._users.items())],
            "roles": [[n, [[g.permission, g.prefix] for g in sorted(gs)]] for n, gs in sorted(self._roles.items())],
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> "AuthTable":
        table = cls()
        for name, grants in wire["roles"]:
            table._roles[validate_name("role", name)] = frozenset(make_grant(p, x) for p, x in grants)
        for name, token_sha256, roles in wire["users"]:
            if name in table._users or token_sha256 in table._hashes:
                raise BadRequest(f"snapshot has a duplicate user or token hash ({name!r})")
            table._users[validate_name("user", name)] = User(validate_token_hash(token_sha256), frozenset(roles))
            table._hashes[token_sha256] = name
        return table

    # ---- internals --------------------------------------------------------------------

    def _require_user(self, name: str) -> User:
        user = self._users.get(name)
        if user is None:
            raise NoNode(f"no user {name!r}", user=name)
        return user

    def _require_role(self, name: str) -> frozenset[Grant]:
        grants = self._roles.get(name)
        if grants is None:
            raise NoNode(f"no role {name!r}", role=name)
        return grants

    def _set_user(self, txn: Txn, name: str, user: User | None) -> None:
        before = self._users.get(name)
        self._put_user(name, user)
        txn.undo.record(lambda: self._put_user(name, before))

    def _put_user(self, name: str, user: User | None) -> None:
        old = self._users.pop(name, None)
        if old is not None:
            self._hashes.pop(old.token_sha256, None)
        if user is not None:
            self._users[name] = user
            self._hashes[user.token_sha256] = name

    def _set_role(self, txn: Txn, name: str, grants: frozenset[Grant] | None) -> None:
        before = self._roles.get(name)
        self._put_role(name, grants)
        txn.undo.record(lambda: self._put_role(name, before))

    def _put_role(self, name: str, grants: frozenset[Grant] | None) -> None:
        if grants is None:
            self._roles.pop(name, None)
        else:
            self._roles[name] = grants
