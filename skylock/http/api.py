"""The seed's REST API (``/v1/...``) as aiohttp routes over the node's client ops.

Each route only translates: JSON in, one or two client ops through the
``NodeLink``, JSON out. Semantics live in the node, so HTTP and ZeroMQ clients
cannot disagree. Errors are ``{"error": {"code", "message"}}`` with the status
from ``status_of``: 400 bad input (415 with code ``BadRequest`` for a body not
declared JSON), 413 too large, 404 no node, 409 conflicts
(exists, version, not empty, children of an ephemeral), 403 not the lock owner,
429 a configured limit reached (``LimitExceeded``: open sessions, watches),
410 gone (``SessionExpired``: the session is unknown, closed or expired; and
``Compacted`` watch history), 408 a lock wait that timed out, 504 any other
timeout, 503 no leader or node unreachable, 500 anything else.

Node data travels as text when it is UTF-8, else base64 with ``"encoding":
"base64"``; request bodies may say ``"encoding": "base64"`` the same way.

A request body must be declared ``Content-Type: application/json`` (else 415
with code ``BadRequest``): an HTML form or a ``no-cors`` fetch on another site
cannot send that type without the browser asking first, so a page cannot make a
visitor's browser write to the cluster. Numbers must be finite and each int
within int64 and its field's range, as on the ZeroMQ protocol.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import re
import uuid
from typing import Any, Awaitable, Callable

import pykka
from aiohttp import web

from skylock.errors import (
    BadRequest,
    BadVersion,
    Compacted,
    ConnectionLost,
    LimitExceeded,
    NoChildrenForEphemerals,
    NodeExists,
    NoLeader,
    NoNode,
    NotEmpty,
    NotLeader,
    NotOwner,
    PermissionDenied,
    Unauthenticated,
    SessionExpired,
    SkyLockError,
    Timeout,
    TooLarge,
)
from skylock.http import console, inventory
from skylock.http.health import verdict
from skylock.http.link import NodeLink
from skylock.http.metrics import CONTENT_TYPE_LATEST, REGISTRY, exposition, metrics_registry
from skylock.http.ops_json import decode_data
from skylock.http.probe import NodeProbe
from skylock.net.codec import INT64_MAX

log = logging.getLogger("skylock.http")

LINK = web.AppKey("link", NodeLink)
PROBE = web.AppKey("probe", NodeProbe)

#: Longest a long-poll watch may be asked to wait, in seconds.
MAX_WATCH_TIMEOUT = 300.0
#: Added to an op's own wait before giving up on a node that never answers.
CALL_MARGIN = 15.0
#: Longest session TTL a request may name (the node clamps to its ``session.max_ttl``);
#: keeps ``ttl_seconds * 1000`` a sane int64 of milliseconds.
MAX_TTL_SECONDS = 10 ** 9
#: The only media type a request body may have (parameters such as charset=utf-8 aside).
JSON_TYPE = "application/json"

_STATUS: list[tuple[type[SkyLockError], int]] = [  # most specific first
    (TooLarge, 413),
    (BadRequest, 400),  # and BadPath
    (NoNode, 404),
    (NodeExists, 409), (BadVersion, 409), (NotEmpty, 409), (NoChildrenForEphemerals, 409),
    (NotOwner, 403), (PermissionDenied, 403), (Unauthenticated, 401),
    (LimitExceeded, 429),
    (SessionExpired, 410), (Compacted, 410),
    (NoLeader, 503), (NotLeader, 503), (ConnectionLost, 503),
    (Timeout, 504),
]


def status_of(err: SkyLockError, *, op: str = "") -> int:
    """The HTTP status of a typed error (``op`` distinguishes a lock wait's Timeout)."""
    if isinstance(err, Timeout) and op == "lock.acquire":
        return 408
    for cls, status in _STATUS:
        if isinstance(err, cls):
            return status
    return 500


# --------------------------------------------------------------------------- JSON helpers


def _jsonable(value: Any) -> Any:
    """Node results are msgpack values: bytes become text (or base64), map keys strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    return value


def _reply(body: Any, status: int = 200) -> web.Response:
    return web.json_response(_jsonable(body), status=status)


def error_response(code: str, message: str, status: int) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _data_field(data: bytes) -> dict[str, Any]:
    try:
        return {"data": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"data": base64.b64encode(data).decode("ascii"), "encoding": "base64"}


_MISSING: Any = object()


class Body:
    """A request's JSON object, read field by field with typed, named errors."""

    def __init__(self, fields: dict[str, Any], allowed: set[str]) -> None:
        unknown = sorted(set(fields) - allowed)
        if unknown:
            raise BadRequest(f"unknown field(s) {', '.join(unknown)} (expected: {', '.join(sorted(allowed))})")
        self.fields = fields

    @classmethod
    async def read(cls, request: web.Request, *allowed: str, required: bool = True) -> "Body":
        declared = _check_media_type(request)
        raw = await request.read()
        if not raw.strip():
            if required:
                raise BadRequest("this request needs a JSON object body")
            return cls({}, set(allowed))
        if not declared:
            raise _unsupported(f"a request body needs 'Content-Type: {JSON_TYPE}'")
        try:
            fields = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise BadRequest(f"the body is not valid JSON: {exc}") from None
        if not isinstance(fields, dict):
            raise BadRequest(f"the body must be a JSON object, got {type(fields).__name__}")
        return cls(fields, set(allowed))

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = _MISSING) -> Any:
        value = self.fields.get(name, _MISSING)
        if value is _MISSING or (value is None and default is not _MISSING):
            if default is _MISSING:
                raise BadRequest(f"missing field {name!r}")
            return default
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise BadRequest(f"field {name!r} must be {names}, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise BadRequest(f"field {name!r} must be a finite number, got {value}")
        if isinstance(value, str) and not _is_utf8(value):
            raise BadRequest(f"field {name!r} is not valid Unicode text (lone surrogate)")
        return value

    def integer(self, name: str, default: int, *, minimum: int, maximum: int = INT64_MAX) -> int:
        """An integer field within ``[minimum, maximum]`` (never beyond int64)."""
        value = self.get(name, int, default)
        _check_range(f"field {name!r}", value, minimum, maximum)
        return int(value)

    def data(self, *, required: bool) -> bytes:
        return decode_data(self.get("data", str, _MISSING if required else ""), self.get("encoding", str, "utf-8"))


def _unsupported(message: str) -> web.HTTPUnsupportedMediaType:
    """415, answered with code ``BadRequest`` by ``errors_as_json`` (one error family)."""
    return web.HTTPUnsupportedMediaType(text=message)


def _check_media_type(request: web.Request) -> bool:
    """True when the request declares a JSON body; raises 415 for any other declared type.

    Only a declared JSON body is read: the types a cross-site form or ``no-cors`` fetch may
    send (form-urlencoded, multipart, text/plain) are refused even when the text is JSON.
    """
    if "Content-Type" not in request.headers:
        return False
    if request.content_type.lower() != JSON_TYPE:
        raise _unsupported(f"a request body must be {JSON_TYPE}, got {request.content_type or 'none'!r}")
    charset = request.charset
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise _unsupported(f"a request body must be {JSON_TYPE} in UTF-8, got charset {charset!r}")
    return True


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_range(what: str, value: int | float, minimum: int | float, maximum: int | float) -> None:
    if not minimum <= value <= maximum:
        raise BadRequest(f"{what} must be from {minimum} to {maximum}, got {value!r}")


_INT_TEXT = re.compile(r"-?[0-9]{1,20}")


def _query_int(request: web.Request, name: str, default: int | None, *, minimum: int) -> int | None:
    """A decimal integer query parameter within ``[minimum, int64 max]``."""
    text = request.query.get(name)
    if text is None or text == "":
        return default
    if not _INT_TEXT.fullmatch(text):
        raise BadRequest(f"query parameter {name!r} must be a decimal integer, got {text[:40]!r}")
    value = int(text)
    _check_range(f"query parameter {name!r}", value, minimum, INT64_MAX)
    return value


def _query_seconds(request: web.Request, name: str, default: float, maximum: float) -> float:
    """A finite number of seconds in ``(0, maximum]``."""
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"query parameter {name!r} must be a number of seconds, got {text[:40]!r}") from None
    if not 0 < value <= maximum:  # also false for nan and inf
        raise BadRequest(f"query parameter {name!r} must be in (0, {maximum:g}] seconds, got {text[:40]!r}")
    return value


def _node_path(request: web.Request) -> str:
    """``/v1/nodes/`` is the root; ``/v1/nodes/a/b`` is ``/a/b`` (the node validates it)."""
    return "/" + request.match_info.get("path", "")


def bearer_token(request: web.Request) -> str | None:
    """The ``Authorization: Bearer <token>`` token, sent to the node as the frame's token
    (the node decides whether one is needed); any other Authorization is 401."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()


async def _call(request: web.Request, op: str, args: dict[str, Any], *, wait: float = 0.0) -> Any:
    return await request.app[LINK].call(op, args, timeout=wait + CALL_MARGIN, token=bearer_token(request))


# --------------------------------------------------------------------------- sessions


async def open_session(request: web.Request) -> web.Response:
    body = await Body.read(request, "client_id", "ttl_seconds")
    ttl = body.get("ttl_seconds", (int, float), 0)
    _check_range("field 'ttl_seconds'", ttl, 0, MAX_TTL_SECONDS)  # the node clamps it to its own bounds
    result = await _call(request, "session.open",
                         {"client_id": body.get("client_id", str, ""), "ttl_ms": int(ttl * 1000)})
    ttl_ms = int(result["ttl_ms"])
    # session_id is the session's credential; public_id is how others see it (ephemeral_owner, lock info)
    return _reply({"session_id": result["session_id"], "public_id": result["public_id"],
                   "ttl_seconds": ttl_ms // 1000 if ttl_ms % 1000 == 0 else ttl_ms / 1000}, 201)


async def heartbeat(request: web.Request) -> web.Response:
    session_id = request.match_info["session_id"]
    result = await _call(request, "session.heartbeat", {"session_id": session_id})
    return _reply({"session_id": session_id, **(result or {})})


async def close_session(request: web.Request) -> web.Response:
    session_id = request.match_info["session_id"]
    await _call(request, "session.close", {"session_id": session_id})
    return _reply({"session_id": session_id, "closed": True})


# --------------------------------------------------------------------------- nodes


async def create_node(request: web.Request) -> web.Response:
    body = await Body.read(request, "data", "encoding", "ephemeral", "sequential", "session_id", "parents",
                           required=False)
    args = {
        "path": _node_path(request),
        "data": body.data(required=False),
        "ephemeral": body.get("ephemeral", bool, False),
        "sequential": body.get("sequential", bool, False),
        "session_id": body.get("session_id", str, None),
    }
    try:
        result = await _call(request, "create", args)
    except NoNode:
        if not body.get("parents", bool, True):
            raise
        await _create_parents(request, args["path"])
        result = await _call(request, "create", args)
    return _reply({"path": result["path"], "stat": result.get("stat")}, 201)


async def _create_parents(request: web.Request, path: str) -> None:
    """Like ``mkdir -p`` (the seed's ``PUT /v1/nodes/my/path`` works on a fresh cluster):
    missing ancestors become empty persistent nodes. ``"parents": false`` keeps
    ZooKeeper's strict rule instead."""
    parts = path.strip("/").split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        try:
            await _call(request, "create", {"path": "/" + "/".join(parts[:depth])})
        except NodeExists:
            pass


async def get_node(request: web.Request) -> web.Response:
    path = _node_path(request)
    args = {"path": path, "consistency": request.query.get("consistency", "linearizable")}
    result = await _call(request, "get", args)
    return _reply({"path": path, **_data_field(bytes(result["data"])), "stat": result["stat"]})


async def set_node(request: web.Request) -> web.Response:
    body = await Body.read(request, "data", "encoding", "version")
    path = _node_path(request)
    result = await _call(request, "set", {"path": path, "data": body.data(required=True),
                                          "version": body.integer("version", -1, minimum=-1)})
    return _reply({"path": path, "stat": result["stat"]})


async def delete_node(request: web.Request) -> web.Response:
    path = _node_path(request)
    await _call(request, "delete", {"path": path, "version": _query_int(request, "version", -1, minimum=-1)})
    return _reply({"path": path, "deleted": True})


async def children(request: web.Request) -> web.Response:
    path = _node_path(request)
    args = {"path": path, "consistency": request.query.get("consistency", "linearizable")}
    result = await _call(request, "children", args)
    return _reply({"path": path, "children": result["children"]})


# --------------------------------------------------------------------------- locks


async def acquire_lock(request: web.Request) -> web.Response:
    body = await Body.read(request, "owner", "session_id", "timeout_ms", "request_id", "lock_delay_ms")
    timeout_ms = body.integer("timeout_ms", 30000, minimum=0)
    args = {
        "lock_delay_ms": body.integer("lock_delay_ms", 0, minimum=0),
        "name": request.match_info["name"],
        "session_id": body.get("session_id", str),
        "owner": body.get("owner", str, ""),
        "timeout_ms": timeout_ms,
        # one id per HTTP request unless the caller retries with its own: acquire is idempotent per id
        "request_id": body.get("request_id", str, uuid.uuid4().hex),
    }
    try:
        result = await _call(request, "lock.acquire", args, wait=timeout_ms / 1000)
    except Timeout as err:
        return error_response(err.code, err.message, status_of(err, op="lock.acquire"))
    return _reply(result)


async def release_lock(request: web.Request) -> web.Response:
    """The seed's release names only the lock id: the id the acquire returned is a credential
    on its own (the node checks its mac); a ``session_id``, if given, must own the entry."""
    body = await Body.read(request, "lock_id", "session_id")
    args = {"name": request.match_info["name"], "lock_id": body.get("lock_id", str),
            "session_id": body.get("session_id", str, None)}
    return _reply(await _call(request, "lock.release", args))


async def lock_info(request: web.Request) -> web.Response:
    return _reply(await _call(request, "lock.info", {"name": request.match_info["name"]}))


# --------------------------------------------------------------------------- cluster


async def leader(request: web.Request) -> web.Response:
    return _reply(await _call(request, "cluster.leader", {}))


async def status(request: web.Request) -> web.Response:
    return _reply(await _call(request, "cluster.status", {}))


# --------------------------------------------------------------------------- operations


async def health(request: web.Request) -> web.Response:
    """200 ``{"status": "ok"}`` or 503 with the reason; no token needed (a load balancer's
    probe has none), and nothing said beyond up or down and why (see ``http.health``)."""
    try:
        status = await asyncio.get_running_loop().run_in_executor(None, request.app[PROBE].raft_status)
    except (pykka.Timeout, pykka.ActorDeadError):
        reason: str | None = "the node did not answer"
    else:
        reason = verdict(status)
    if reason is not None:
        return web.json_response({"status": "unavailable", "reason": reason}, status=503)
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text (see ``http.metrics``); in secure mode a valid token, like any route."""
    await _call(request, "auth.whoami", {})
    try:
        body = await asyncio.get_running_loop().run_in_executor(None, exposition, request.app[REGISTRY])
    except (pykka.Timeout, pykka.ActorDeadError):
        return error_response("ConnectionLost", "the node did not answer the scrape", 503)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


# --------------------------------------------------------------------------- watches


async def watch(request: web.Request) -> web.Response:
    """Long poll: 200 ``{"events", "zxid"}`` with the first event(s) after ``from_zxid``,
    or 204 when ``timeout`` seconds pass; either way ``X-SkyLock-Zxid`` is where to resume."""
    kind = request.query.get("kind", "recursive")
    from_zxid = _query_int(request, "from_zxid", None, minimum=0)
    timeout = _query_seconds(request, "timeout", 30.0, MAX_WATCH_TIMEOUT)
    events, start = await request.app[LINK].wait_events(
        _node_path(request), kind, from_zxid, timeout=timeout, call_timeout=CALL_MARGIN,
        token=bearer_token(request),
    )
    if not events:
        return web.Response(status=204, headers={"X-SkyLock-Zxid": str(start)})
    last = max(int(e.get("zxid", 0)) for e in events)
    response = _reply({"events": events, "zxid": last})
    response.headers["X-SkyLock-Zxid"] = str(last)
    return response


# --------------------------------------------------------------------------- the app


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes the same ``{"error": {...}}`` body, never an HTML page."""
    try:
        return await handler(request)
    except SkyLockError as err:
        return error_response(err.code, err.message, status_of(err))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {413: "TooLarge", 415: "BadRequest"}.get(exc.status) or exc.reason.replace(" ", "")
        return error_response(code, exc.text or exc.reason, exc.status)
    except Exception as exc:  # noqa: BLE001 - one broken request must not take the API down
        log.exception("http %s %s failed", request.method, request.path)
        return error_response("InternalError", f"{type(exc).__name__}: {exc}", 500)


def build_app(link: NodeLink, *, max_body: int, probe: NodeProbe | None = None) -> web.Application:
    """``probe`` (the node's, see ``http.probe``) adds ``/health`` and ``/metrics``."""
    app = web.Application(middlewares=[errors_as_json], client_max_size=max_body)
    app[LINK] = link
    app.add_routes([
        web.post("/v1/session", open_session),
        web.post("/v1/session/{session_id}/heartbeat", heartbeat),
        web.delete("/v1/session/{session_id}", close_session),
        web.put("/v1/nodes/{path:.*}", create_node),
        web.get("/v1/nodes/{path:.*}", get_node),
        web.post("/v1/nodes/{path:.*}", set_node),
        web.delete("/v1/nodes/{path:.*}", delete_node),
        web.get("/v1/children/{path:.*}", children),
        web.post("/v1/locks/{name}", acquire_lock),
        web.delete("/v1/locks/{name}", release_lock),
        web.get("/v1/locks/{name}", lock_info),
        web.get("/v1/cluster/leader", leader),
        web.get("/v1/cluster/status", status),
        web.get("/v1/watch/{path:.*}", watch),
    ])
    app.add_routes(inventory.routes(_call))  # /v1/cluster/members, /v1/sessions, /v1/locks
    app.add_routes(console.routes())  # the web console: /ui/
    if probe is not None:
        app[PROBE] = probe
        app[REGISTRY] = metrics_registry(probe)
        app.add_routes([web.get("/health", health), web.get("/metrics", metrics)])
    from skylock.http.multi import routes as multi_routes  # it builds on this module's helpers

    app.add_routes(multi_routes())
    return app


__all__ = ["build_app", "status_of", "error_response", "LINK", "MAX_WATCH_TIMEOUT"]
