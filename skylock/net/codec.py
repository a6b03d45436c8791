"""The client wire protocol, version 1: msgpack envelopes and the op catalog.

Pure (no sockets), so the server and the client SDK share one definition of what
a valid frame is. Every frame is a msgpack map carrying ``"v": PROTOCOL_VERSION``:

- request  ``{"v", "id", "op", "args"}``
- reply    ``{"v", "id", "ok": result}`` or ``{"v", "id", "err": error.to_wire()}``
- event    ``{"v", "watch": watch_id, "event": {...}}`` pushed on the same connection

``parse_request`` checks a request against ``OPS`` and fills defaults, so the
node only ever sees well-typed arguments. Never pickle: msgpack only, and
extension types are refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeGuard

import msgpack

from skylock.errors import BadRequest, SkyLockError, TooLarge, error_from_wire

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1


# --------------------------------------------------------------------------- msgpack


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not allowed")


def encode(obj: Any) -> bytes:
    """msgpack with bin/str distinguished; raises TypeError for unencodable values."""
    return msgpack.packb(obj, use_bin_type=True)


def decode(frame: bytes) -> Any:
    """Decode one msgpack value; anything malformed becomes ``BadRequest``.

    Container limits are bounded by the frame's own length (a 10-byte frame cannot
    announce a billion-element array), extension types and trailing bytes are refused.
    """
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise BadRequest(f"frame must be bytes, got {type(frame).__name__}")
    size = len(frame)
    try:
        return msgpack.unpackb(
            frame,
            raw=False,
            strict_map_key=False,
            use_list=True,
            ext_hook=_refuse_ext,
            max_str_len=size,
            max_bin_len=size,
            max_array_len=size,
            max_map_len=size,
            max_ext_len=size,
        )
    except Exception as exc:  # msgpack raises many types (ExtraData, ValueError, TypeError, StackError ...)
        raise BadRequest(f"frame is not valid msgpack: {exc or type(exc).__name__}") from None


def peek_id(frame: bytes) -> int | None:
    """Read the top-level ``id`` of a map frame without materialising other values.

    Lets an oversized request still be answered with its own id.
    """
    try:
        unpacker = msgpack.Unpacker(
            raw=False, strict_map_key=False, ext_hook=_refuse_ext, max_buffer_size=max(len(frame), 1)
        )
        unpacker.feed(frame)
        for _ in range(unpacker.read_map_header()):
            key = unpacker.unpack()
            if key == "id":
                value = unpacker.unpack()
                return value if _is_int(value) else None
            unpacker.skip()
    except Exception:
        return None
    return None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------- op catalog

_REQUIRED: Any = object()

#: Every integer a client sends must fit a signed 64-bit int (what every language has),
#: so a value the node accepts can also be logged, replicated and answered.
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


@dataclass(frozen=True)
class ArgSpec:
    """One argument of an op: accepted python types, default, optional allowed values,
    and for ints the allowed range (``minimum`` .. int64 max)."""

    name: str
    types: tuple[type, ...]
    default: Any = _REQUIRED
    choices: tuple[Any, ...] | None = None
    minimum: int = INT64_MIN

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def type_names(self) -> str:
        return " or ".join("None" if t is type(None) else t.__name__ for t in self.types)

    @cached_property
    def exact_types(self) -> frozenset[type]:
        """A value of exactly one of these types needs no further type check (``bool`` is
        not ``int`` here, as ``_is_int`` has it): every argument of every request is checked."""
        return frozenset(self.types)


#: Where a node sends a request (``Gateway`` has one handler per route):
#: ``node``: answered by the gateway itself; ``write``: proposed through the log, answered when
#: applied; ``read``: a Store read, after a ReadIndex round unless ``consistency="local"``;
#: ``store``: a Store read as it is; ``leader_read``: a Store read on the leader only;
#: ``lock``: a lock acquire (a wait goes to the LockManager); ``session``: a heartbeat to the
#: SessionManager; ``watch``: to the WatchHub; ``cluster``: status from RaftNode;
#: ``member``: a membership op for RaftNode; ``auth``: an auth op (reads from the published view).
ROUTES = ("node", "write", "read", "store", "leader_read", "lock", "session", "watch", "cluster", "member", "auth")


@dataclass(frozen=True)
class OpSpec:
    """An op: its name, its arguments in declaration order, where a node sends it (``ROUTES``),
    and whether a client may send it again to any server after a failure (it changes nothing)."""

    name: str
    args: tuple[ArgSpec, ...]
    route: str = "write"
    idempotent: bool = False

    def arg_names(self) -> list[str]:
        return [a.name for a in self.args]

    @cached_property
    def known(self) -> frozenset[str]:
        """The argument names, as a set: every request's arguments are checked against it."""
        return frozenset(a.name for a in self.args)


_NONE = type(None)
_CONSISTENCY = ArgSpec("consistency", (str,), "linearizable", ("linearizable", "local"))
#: a local read is served from a state at least this far on (the zxid of the newest answer the
#: client has seen): a node behind it answers as a linearizable read instead
_MIN_ZXID = ArgSpec("min_zxid", (int,), 0, minimum=0)
#: a watch set by a read ends with this session (it is told once when the session closes)
_WATCH_SESSION = ArgSpec("session_id", (str, type(None)), None)
_PERMISSION = ArgSpec("permission", (str,), _REQUIRED, ("read", "write", "lock", "admin"))


def _path() -> ArgSpec:
    return ArgSpec("path", (str,))


def _version() -> ArgSpec:
    """-1 means any version; real versions start at 0."""
    return ArgSpec("version", (int,), -1, minimum=-1)


def _op(name: str, *args: ArgSpec, route: str = "write", idempotent: bool = False) -> tuple[str, OpSpec]:
    assert route in ROUTES, route
    return name, OpSpec(name, tuple(args), route, idempotent)


def _read(name: str, *args: ArgSpec, route: str = "read") -> tuple[str, OpSpec]:
    """An op that changes nothing: any server may be asked it again."""
    return _op(name, *args, route=route, idempotent=True)


#: ``create``'s arguments, the same at the top level and inside a ``multi``.
_CREATE_ARGS = (
    _path(),
    ArgSpec("data", (bytes,), b""),
    ArgSpec("ephemeral", (bool,), False),
    ArgSpec("sequential", (bool,), False),
    ArgSpec("session_id", (str, _NONE), None),
)


#: Every op a node serves: its arguments, its route and whether it is idempotent. The one table:
#: the gateway routes by it, the client retries by it, and the state machine's commands use
#: the same names (``set``, ``session.open``, ``lock.acquire``...).
OPS: dict[str, OpSpec] = dict(
    [
        _read("ping", route="node"),
        _op("session.open", ArgSpec("client_id", (str,)), ArgSpec("ttl_ms", (int,), 0, minimum=0)),
        _read("session.heartbeat", ArgSpec("session_id", (str,)), route="session"),
        _op("session.close", ArgSpec("session_id", (str,))),
        # every open session by its public id, with its ephemerals and lock entries (never a secret)
        _read("session.list", _CONSISTENCY, _MIN_ZXID),
        _op("create", *_CREATE_ARGS),
        _read("get", _path(), ArgSpec("watch", (bool,), False), _CONSISTENCY, _WATCH_SESSION, _MIN_ZXID),
        _op("set", _path(), ArgSpec("data", (bytes,)), _version()),
        _op("delete", _path(), _version()),
        _read("exists", _path(), ArgSpec("watch", (bool,), False), _CONSISTENCY, _WATCH_SESSION, _MIN_ZXID),
        _read(
            "children",
            _path(),
            ArgSpec("watch", (bool,), False),
            ArgSpec("stat", (bool,), False),
            _CONSISTENCY,
            _WATCH_SESSION,
            _MIN_ZXID,
        ),
        _op("multi", ArgSpec("ops", (list,))),
        # registered where the node is now (the reply says at which zxid): no ReadIndex round
        _read(
            "watch.add",
            _path(),
            ArgSpec("kind", (str,), _REQUIRED, ("data", "exists", "children", "recursive")),
            ArgSpec("from_zxid", (int, _NONE), None, minimum=0),
            ArgSpec("session_id", (str, _NONE), None),
            # without from_zxid, the watch starts after this zxid if the node is behind it
            _MIN_ZXID,
        ),
        _op("watch.remove", ArgSpec("watch_id", (int,), minimum=0), route="watch"),
        _read("cluster.status", route="cluster"),
        _read("cluster.leader", route="cluster"),
        _op(
            "lock.acquire",
            ArgSpec("name", (str,)),
            ArgSpec("session_id", (str,)),
            ArgSpec("owner", (str,), ""),
            ArgSpec("timeout_ms", (int,), 30000, minimum=0),
            ArgSpec("request_id", (str,)),
            # held back from the next holder that long if this session expires holding it
            ArgSpec("lock_delay_ms", (int,), 0, minimum=0),
            route="lock",
        ),
        # the lock id the acquire returned is enough; a session_id, if given, must own it
        _op("lock.release", ArgSpec("name", (str,)), ArgSpec("session_id", (str, _NONE), None),
            ArgSpec("lock_id", (str,))),
        _read("lock.info", ArgSpec("name", (str,))),
        _op("debug.state_hash", route="store"),
        # a backup: the leader holds its state at a linearizable point, read in chunks (from
        # that same node: not sent again elsewhere)
        _op("snapshot.begin", route="leader_read"),
        _op("snapshot.chunk", ArgSpec("export_id", (str,)), ArgSpec("offset", (int,), minimum=0), route="store"),
        # membership (skylock/actors/member_desk.py): changes are made on the leader
        _read("member.list", route="member"),
        _op("member.add", ArgSpec("id", (int,), minimum=1), ArgSpec("peer_address", (str,)),
            ArgSpec("client_address", (str,)), ArgSpec("http_port", (int,), 0, minimum=0), route="member"),
        _op("member.promote", ArgSpec("id", (int,), minimum=1), route="member"),
        _op("member.remove", ArgSpec("id", (int,), minimum=1), route="member"),
        _op("leader.transfer", ArgSpec("id", (int,), 0, minimum=0), route="member"),
        # authorization (secure mode): users, roles and grants in the replicated state
        _read("auth.whoami", route="auth"),
        _read("auth.user_list", route="auth"),
        _read("auth.role_list", route="auth"),
        # ``token`` is the new user's bearer token; the node stores only its sha256, and
        # generates one (returned once, in the reply) when it is left out
        _op("auth.user_add", ArgSpec("name", (str,)), ArgSpec("token", (str, _NONE), None), route="auth"),
        _op("auth.user_delete", ArgSpec("name", (str,)), route="auth"),
        _op("auth.user_grant_role", ArgSpec("name", (str,)), ArgSpec("role", (str,)), route="auth"),
        _op("auth.user_revoke_role", ArgSpec("name", (str,)), ArgSpec("role", (str,)), route="auth"),
        _op("auth.role_add", ArgSpec("name", (str,)), route="auth"),
        _op("auth.role_delete", ArgSpec("name", (str,)), route="auth"),
        _op("auth.role_grant", ArgSpec("name", (str,)), _PERMISSION, ArgSpec("prefix", (str,)), route="auth"),
        _op("auth.role_revoke", ArgSpec("name", (str,)), _PERMISSION, ArgSpec("prefix", (str,)), route="auth"),
    ]
)

#: Ops a client may send again, to any server, after a failure: they change nothing.
IDEMPOTENT = frozenset(name for name, spec in OPS.items() if spec.idempotent)


#: The ops a ``multi`` may hold, with their arguments (besides ``"op"``), checked like
#: top-level arguments: an unknown key is refused, never carried into the log.
MULTI_OPS: dict[str, OpSpec] = dict(
    [
        _op("create", *_CREATE_ARGS),
        _op("set", _path(), ArgSpec("data", (bytes,)), _version()),
        _op("delete", _path(), _version()),
        _op("check", _path(), _version()),
        _op("check_lock", ArgSpec("name", (str,)), ArgSpec("token", (int,), minimum=0), ArgSpec("session_id", (str,))),
    ]
)


def _check_arg(where: str, spec: ArgSpec, value: Any, req_id: int) -> Any:
    """Return the value in its canonical type or raise BadRequest naming op and argument
    (``where`` is the op as quoted in messages, e.g. ``'multi': ops[0] 'create'``)."""
    if bytes in spec.types and isinstance(value, str):
        value = value.encode("utf-8")
    ok = type(value) in spec.exact_types or any((_is_int(value) if t is int else isinstance(value, t))
                                                for t in spec.types)
    if not ok:
        raise BadRequest(
            f"op {where}: argument {spec.name!r} must be {spec.type_names()}, got {type(value).__name__}",
            id=req_id,
        )
    if _is_int(value) and not spec.minimum <= value <= INT64_MAX:
        raise BadRequest(
            f"op {where}: argument {spec.name!r} must be an integer from {spec.minimum} to {INT64_MAX}, got {value}",
            id=req_id,
        )
    if spec.choices is not None and value not in spec.choices:
        allowed = ", ".join(repr(c) for c in spec.choices)
        raise BadRequest(f"op {where}: argument {spec.name!r} must be one of {allowed}, got {value!r}", id=req_id)
    if spec.name == "ops":
        return _check_multi_ops(where, value, req_id)
    return value


def _check_multi_ops(where: str, ops: list[Any], req_id: int) -> list[dict[str, Any]]:
    """Each op of a ``multi``: a map with a known ``"op"`` and that op's arguments only."""
    for i, sub in enumerate(ops):
        if not isinstance(sub, dict):
            raise BadRequest(f"op {where}: ops[{i}] must be a map, got {type(sub).__name__}", id=req_id, index=i)
    checked = []
    for i, sub in enumerate(ops):
        name = sub.get("op")
        spec = MULTI_OPS.get(name) if isinstance(name, str) else None
        if spec is None:
            raise BadRequest(f"op {where}: ops[{i}] needs 'op' in {sorted(MULTI_OPS)}, got {name!r}",
                             id=req_id, index=i)
        args = {k: v for k, v in sub.items() if k != "op"}
        checked.append({"op": name, **_check_args(spec, args, req_id, where=f"{where}: ops[{i}] {name!r}", index=i)})
    return checked


def _check_args(spec: OpSpec, args: dict[Any, Any], req_id: int, *, where: str = "",
                **details: Any) -> dict[str, Any]:
    where = where or repr(spec.name)
    known = spec.known
    extra = [k for k in args if k not in known]
    if extra:
        names = ", ".join(repr(k) for k in extra)
        expected = ", ".join(spec.arg_names()) or "none"
        raise BadRequest(f"op {where}: unknown argument(s) {names} (expected: {expected})", id=req_id, **details)
    checked: dict[str, Any] = {}
    for arg in spec.args:
        if arg.name in args:
            try:
                checked[arg.name] = _check_arg(where, arg, args[arg.name], req_id)
            except BadRequest as err:
                err.details.update(details)
                raise
        elif arg.required:
            raise BadRequest(f"op {where}: missing required argument {arg.name!r}", id=req_id, **details)
        else:
            checked[arg.name] = arg.default
    return checked


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Request:
    """A validated request: a known op and its arguments with defaults filled."""

    id: int
    op: str
    args: dict[str, Any]
    #: the caller's bearer token (secure mode), or None; never part of ``args``, so it is never logged
    token: str | None = None


#: Longest bearer token a frame may carry.
MAX_TOKEN_LENGTH = 512


def _check_token(msg: dict[Any, Any], req_id: int) -> str | None:
    token = msg.get("token")
    if token is None:
        return None
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        raise BadRequest(f"'token' must be a non-empty string of at most {MAX_TOKEN_LENGTH} characters", id=req_id)
    return token


def _check_version(msg: dict[Any, Any], req_id: int | None) -> None:
    if "v" not in msg:
        raise BadRequest("frame has no protocol version 'v'", id=req_id)
    if not _is_int(msg["v"]) or msg["v"] != PROTOCOL_VERSION:
        raise BadRequest(
            f"unsupported protocol version {msg['v']!r} (this side speaks {PROTOCOL_VERSION})", id=req_id
        )


def parse_request(frame: bytes, *, max_size: int) -> Request:
    """Validate a client frame; BadRequest/TooLarge carry ``details["id"]`` when readable."""
    if len(frame) > max_size:
        req_id = peek_id(frame)
        details = {} if req_id is None else {"id": req_id}
        raise TooLarge(f"request of {len(frame)} bytes exceeds the limit of {max_size}", **details)
    msg = decode(frame)
    if not isinstance(msg, dict):
        raise BadRequest(f"frame must be a map, got {type(msg).__name__}")
    req_id = msg.get("id")
    if not _is_int(req_id):
        if req_id is None:
            raise BadRequest("frame has no request 'id'")
        raise BadRequest(f"request 'id' must be int, got {type(req_id).__name__}")
    _check_version(msg, req_id)
    extra = [k for k in msg if k not in ("v", "id", "op", "args", "token")]
    if extra:
        raise BadRequest(f"unknown frame field(s) {', '.join(repr(k) for k in extra)}", id=req_id)
    op = msg.get("op")
    if not isinstance(op, str):
        raise BadRequest(f"request 'op' must be str, got {type(op).__name__}", id=req_id)
    spec = OPS.get(op)
    if spec is None:
        raise BadRequest(f"unknown op {op!r}", id=req_id)
    args = msg.get("args", {})
    if not isinstance(args, dict):
        raise BadRequest(f"request 'args' must be a map, got {type(args).__name__}", id=req_id)
    return Request(req_id, op, _check_args(spec, args, req_id), _check_token(msg, req_id))


def encode_request(id: int, op: str, args: dict[str, Any], token: str | None = None) -> bytes:
    frame: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": id, "op": op, "args": args}
    if token is not None:
        frame["token"] = token
    return encode(frame)


def encode_reply(id: int, result: Any, zxid: int | None = None) -> bytes:
    """``zxid``: the entry a write applied as (its client's reads use it as ``min_zxid``)."""
    if zxid is None:
        return encode({"v": PROTOCOL_VERSION, "id": id, "ok": result})
    return encode({"v": PROTOCOL_VERSION, "id": id, "ok": result, "zxid": zxid})


def encode_error(id: int | None, err: SkyLockError) -> bytes:
    """Encode a typed error; details that msgpack cannot carry are reduced to text."""
    try:
        return encode({"v": PROTOCOL_VERSION, "id": id, "err": err.to_wire()})
    except (TypeError, ValueError, OverflowError) as exc:
        log.warning("error details of %s not encodable (%s); sending code and message only", err.code, exc)
        return encode({"v": PROTOCOL_VERSION, "id": id, "err": {"code": err.code, "message": err.message}})


def encode_event(watch_id: int, event: dict[str, Any]) -> bytes:
    return encode({"v": PROTOCOL_VERSION, "watch": watch_id, "event": event})


# --------------------------------------------------------------------------- client side


@dataclass(frozen=True)
class Reply:
    """The answer to request ``id``: ``result`` on success, else ``error``."""

    id: int | None
    result: Any
    error: SkyLockError | None
    #: the state the answer reflects, when it says: a write's entry, or a read's ``zxid``
    zxid: int = 0


@dataclass(frozen=True)
class PushedEvent:
    """A watch event the server pushed without a request."""

    watch_id: int
    event: dict[str, Any]


def parse_server_frame(frame: bytes) -> Reply | PushedEvent:
    """Client side: classify a server frame. Malformed frames raise BadRequest."""
    msg = decode(frame)
    if not isinstance(msg, dict):
        raise BadRequest(f"server frame must be a map, got {type(msg).__name__}")
    _check_version(msg, msg.get("id") if _is_int(msg.get("id")) else None)
    if "watch" in msg:
        watch_id, event = msg["watch"], msg.get("event")
        if not _is_int(watch_id) or not isinstance(event, dict):
            raise BadRequest("event frame needs an int 'watch' and a map 'event'")
        return PushedEvent(watch_id, event)
    req_id = msg.get("id")
    if req_id is not None and not _is_int(req_id):
        raise BadRequest(f"reply 'id' must be int or None, got {type(req_id).__name__}")
    if "err" in msg:
        wire = msg["err"]
        if not isinstance(wire, dict):
            raise BadRequest("reply 'err' must be a map")
        return Reply(req_id, None, error_from_wire({str(k): v for k, v in wire.items()}))
    if "ok" in msg:
        result = msg["ok"]
        zxid = msg.get("zxid", result.get("zxid") if isinstance(result, dict) else None)
        return Reply(req_id, result, None, zxid if _is_int(zxid) and zxid > 0 else 0)
    raise BadRequest("server frame is neither a reply ('ok'/'err') nor an event ('watch')")


__all__ = [
    "PROTOCOL_VERSION",
    "ArgSpec",
    "OpSpec",
    "IDEMPOTENT",
    "OPS",
    "ROUTES",
    "Request",
    "Reply",
    "PushedEvent",
    "encode",
    "decode",
    "parse_request",
    "encode_request",
    "encode_reply",
    "encode_error",
    "encode_event",
    "parse_server_frame",
]
