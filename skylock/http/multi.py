"""``POST /v1/multi``: a transaction over REST, the ops of ``Client.multi`` in JSON.

The body is ``{"ops": [...]}``, each op an object like the SDK's op maps (``{"op":
"create"|"set"|"delete"|"check"|"check_lock", ...}``), its ``data`` text or base64 with
``"encoding": "base64"`` as in the node routes. All ops apply or none does. The answer
is ``{"results": [...]}``, one per op in order; a failing op's error carries its
``index``. The route only translates: the node checks every op (secure mode: the
bearer token's grants must cover each op's path, as for the SDK) before anything is
proposed.
"""

from __future__ import annotations

from aiohttp import web

from skylock.errors import SkyLockError
from skylock.http.api import Body, _call, _reply, status_of
from skylock.http.ops_json import ops_from_json


async def multi(request: web.Request) -> web.Response:
    body = await Body.read(request, "ops")
    try:
        result = await _call(request, "multi", {"ops": ops_from_json(body.get("ops", list))})
    except SkyLockError as err:
        if "index" not in err.details:
            raise
        error = {"code": err.code, "message": err.message, "index": err.details["index"]}
        return web.json_response({"error": error}, status=status_of(err))
    return _reply({"results": result["results"]})


def routes() -> list[web.RouteDef]:
    return [web.post("/v1/multi", multi)]


__all__ = ["routes"]
