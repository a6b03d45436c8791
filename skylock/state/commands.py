"""The replicated commands: how to build them, encode them, and check them.

A command is a plain msgpack-able dict ``{"op": name, ...arguments}`` so it
can sit in a Raft log entry and be read by any node. ``parse`` is the single
gate through which every command passes before it touches the state: it
rejects unknown ops and missing or ill-typed arguments with ``BadRequest``.
Unknown extra keys are ignored, so a newer proposer's optional fields do not
break an older applier.
"""

from __future__ import annotations

from typing import Any

import msgpack

from skylock.errors import BadRequest

_REQUIRED = object()
_INT = (int,)
_STR = (str,)
_BOOL = (bool,)
_BYTES = (bytes,)
_LIST = (list, tuple)
_OPT_STR = (str, type(None))
_REQUEST_ID = (str, int)

#: op name -> {argument: (accepted types, default or _REQUIRED)}
_SPECS: dict[str, dict[str, tuple[tuple[type, ...], Any]]] = {
    "create": {
        "path": (_STR, _REQUIRED),
        "data": (_BYTES, b""),
        "ephemeral": (_BOOL, False),
        "sequential": (_BOOL, False),
        "session_id": (_OPT_STR, None),
        "now_ms": (_INT, _REQUIRED),
    },
    "set": {
        "path": (_STR, _REQUIRED),
        "data": (_BYTES, _REQUIRED),
        "version": (_INT, -1),
        "now_ms": (_INT, _REQUIRED),
    },
    "delete": {"path": (_STR, _REQUIRED), "version": (_INT, -1)},
    "check": {"path": (_STR, _REQUIRED), "version": (_INT, -1)},
    "check_lock": {"name": (_STR, _REQUIRED), "token": (_INT, _REQUIRED), "session_id": (_STR, _REQUIRED)},
    "multi": {"ops": (_LIST, _REQUIRED), "now_ms": (_INT, _REQUIRED)},
    "session.open": {
        "session_id": (_STR, _REQUIRED),
        "client_id": (_STR, _REQUIRED),
        "ttl_ms": (_INT, _REQUIRED),
        "now_ms": (_INT, _REQUIRED),
    },
    "session.close": {"session_id": (_STR, _REQUIRED)},
    "session.expire": {"session_ids": (_LIST, _REQUIRED)},
    "lock.acquire": {
        "name": (_STR, _REQUIRED),
        "session_id": (_STR, _REQUIRED),
        "owner": (_STR, _REQUIRED),
        "request_id": (_REQUEST_ID, _REQUIRED),
        "now_ms": (_INT, _REQUIRED),
        "lock_delay_ms": (_INT, 0),
    },
    "lock.release": {"name": (_STR, _REQUIRED), "session_id": (_OPT_STR, None), "lock_id": (_STR, _REQUIRED)},
    "lock.delay_end": {"name": (_STR, _REQUIRED), "since": (_INT, _REQUIRED)},
    "noop": {},
    # auth: the table of users, roles and grants (skylock/state/auth.py)
    "auth.user_add": {"name": (_STR, _REQUIRED), "token_sha256": (_STR, _REQUIRED)},
    "auth.user_delete": {"name": (_STR, _REQUIRED)},
    "auth.user_grant_role": {"name": (_STR, _REQUIRED), "role": (_STR, _REQUIRED)},
    "auth.user_revoke_role": {"name": (_STR, _REQUIRED), "role": (_STR, _REQUIRED)},
    "auth.role_add": {"name": (_STR, _REQUIRED)},
    "auth.role_delete": {"name": (_STR, _REQUIRED)},
    "auth.role_grant": {"name": (_STR, _REQUIRED), "permission": (_STR, _REQUIRED), "prefix": (_STR, _REQUIRED)},
    "auth.role_revoke": {"name": (_STR, _REQUIRED), "permission": (_STR, _REQUIRED), "prefix": (_STR, _REQUIRED)},
}

#: The commands that change the auth table; after one applies, the node enforces the new table.
AUTH_OPS = frozenset(op for op in _SPECS if op.startswith("auth."))

#: Ops allowed inside ``multi``; they inherit the multi's ``now_ms``.
MULTI_OPS = frozenset({"create", "set", "delete", "check", "check_lock"})
#: Ops allowed as a whole log entry; the checks only make sense guarding other ops.
TOP_LEVEL_OPS = frozenset(_SPECS) - {"check", "check_lock"}


# ---- builders ---------------------------------------------------------------


def create(
    path: str,
    data: bytes = b"",
    *,
    ephemeral: bool = False,
    sequential: bool = False,
    session_id: str | None = None,
    now_ms: int,
) -> dict[str, Any]:
    return {"op": "create", "path": path, "data": data, "ephemeral": ephemeral,
            "sequential": sequential, "session_id": session_id, "now_ms": now_ms}


def set_data(path: str, data: bytes, *, version: int = -1, now_ms: int) -> dict[str, Any]:
    return {"op": "set", "path": path, "data": data, "version": version, "now_ms": now_ms}


def delete(path: str, *, version: int = -1) -> dict[str, Any]:
    return {"op": "delete", "path": path, "version": version}


def check(path: str, *, version: int = -1) -> dict[str, Any]:
    """Only inside ``multi``: the node exists (and is at ``version`` unless -1)."""
    return {"op": "check", "path": path, "version": version}


def check_lock(name: str, *, token: int, session_id: str) -> dict[str, Any]:
    """Only inside ``multi``: ``session_id`` holds lock ``name`` with fencing ``token``."""
    return {"op": "check_lock", "name": name, "token": token, "session_id": session_id}


def multi(ops: list[dict[str, Any]], *, now_ms: int) -> dict[str, Any]:
    return {"op": "multi", "ops": list(ops), "now_ms": now_ms}


def open_session(session_id: str, client_id: str, ttl_ms: int, *, now_ms: int) -> dict[str, Any]:
    return {"op": "session.open", "session_id": session_id, "client_id": client_id,
            "ttl_ms": ttl_ms, "now_ms": now_ms}


def close_session(session_id: str) -> dict[str, Any]:
    return {"op": "session.close", "session_id": session_id}


def expire_session(session_ids: list[str]) -> dict[str, Any]:
    return {"op": "session.expire", "session_ids": list(session_ids)}


def lock_acquire(name: str, *, session_id: str, owner: str, request_id: str | int, now_ms: int,
                 lock_delay_ms: int = 0) -> dict[str, Any]:
    """``lock_delay_ms`` is left out when 0, so such commands read the same as before it existed."""
    cmd = {"op": "lock.acquire", "name": name, "session_id": session_id, "owner": owner,
           "request_id": request_id, "now_ms": now_ms}
    if lock_delay_ms:
        cmd["lock_delay_ms"] = lock_delay_ms
    return cmd


def lock_delay_end(name: str, *, since: int) -> dict[str, Any]:
    """End lock ``name``'s delay that zxid ``since`` started (proposed by the leader when it is over)."""
    return {"op": "lock.delay_end", "name": name, "since": since}


def lock_release(name: str, *, session_id: str | None, lock_id: str) -> dict[str, Any]:
    """Release by the full lock id the acquire returned; ``session_id``, if given, must own it."""
    return {"op": "lock.release", "name": name, "session_id": session_id, "lock_id": lock_id}


def noop() -> dict[str, Any]:
    """A command that changes nothing but ``last_zxid``: the state machine's identity step,
    which its tests use as the one always-valid command. (A new leader's empty entry is a
    Raft entry with no data, which the Store skips; it never carries this command.)"""
    return {"op": "noop"}


def auth(op: str, **args: str) -> dict[str, Any]:
    """An auth command, e.g. ``auth("auth.role_grant", name="r", permission="read", prefix="/app")``.
    A user is added with the sha256 of its token, never the token."""
    if op not in AUTH_OPS:
        raise ValueError(f"{op!r} is not an auth command")
    return {"op": op, **args}


# ---- encoding ---------------------------------------------------------------


def encode(cmd: dict[str, Any]) -> bytes:
    return msgpack.packb(cmd, use_bin_type=True)


def decode(data: bytes) -> dict[str, Any]:
    """Bytes of a log entry back to a command dict; ``BadRequest`` if they are not one."""
    try:
        cmd = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise BadRequest(f"undecodable command: {exc.__class__.__name__}") from None
    if not isinstance(cmd, dict) or not isinstance(cmd.get("op"), str):
        raise BadRequest("a command must be a map with a string 'op'")
    return cmd


# ---- checking ---------------------------------------------------------------


def parse(cmd: Any, *, allowed: frozenset[str] | None = None, now_ms: int | None = None) -> tuple[str, dict[str, Any]]:
    """Check a command and return (op, arguments with defaults filled in).

    ``allowed`` restricts the ops (for the inside of ``multi``); ``now_ms`` is
    then the enclosing multi's timestamp, which every inner op uses.
    """
    if not isinstance(cmd, dict):
        raise BadRequest(f"a command must be a map, not {type(cmd).__name__}")
    op = cmd.get("op")
    if not isinstance(op, str) or op not in _SPECS:
        raise BadRequest(f"unknown op {op!r}", op=str(op))
    if allowed is not None and op not in allowed:
        raise BadRequest(f"op {op!r} is not allowed here", op=op)
    args: dict[str, Any] = {}
    for key, (types, default) in _SPECS[op].items():
        if key == "now_ms" and now_ms is not None:
            args[key] = now_ms
            continue
        if key not in cmd or (cmd[key] is None and type(None) not in types):
            if default is _REQUIRED:
                raise BadRequest(f"{op}: missing argument {key!r}", op=op, argument=key)
            args[key] = default
            continue
        value = cmd[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise BadRequest(f"{op}: argument {key!r} has type {type(value).__name__}", op=op, argument=key)
        args[key] = value
    return op, args
