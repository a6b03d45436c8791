"""Node data and ``multi`` ops as JSON, shared by the REST routes and the command line.

JSON has no bytes, so node data travels as text when it is UTF-8, else base64 with
``"encoding": "base64"`` beside it (``"utf-8"``, the default, says it is the text).
A ``multi``'s ops in JSON are the op maps of ``Client.multi`` written that way; only
the encoding is resolved here: every other check (known ops, argument names, types,
ranges) is the node's, so the REST API, the CLI and the SDK refuse the same things.

No aiohttp here: the command line imports this module.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from skylock.errors import BadRequest

ENCODINGS = ("utf-8", "base64")


def decode_data(text: str, encoding: str, *, field: str = "'data'") -> bytes:
    """``text`` as the bytes it stands for under ``encoding``; ``BadRequest`` if it is not valid."""
    if encoding == "utf-8":
        return text.encode("utf-8")
    if encoding == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"field {field} is not valid base64") from None
    raise BadRequest(f"field 'encoding' must be 'utf-8' or 'base64', got {encoding!r}")


def ops_from_json(ops: Any) -> list[dict[str, Any]]:
    """A JSON list of op objects as ``Client.multi`` takes them: each op's ``data`` decoded
    by its ``encoding`` (which is then dropped). ``BadRequest`` naming the op's index."""
    if not isinstance(ops, list):
        raise BadRequest(f"'ops' must be a list of op objects, got {type(ops).__name__}")
    decoded = []
    for index, op in enumerate(ops):
        if not isinstance(op, dict):
            raise BadRequest(f"ops[{index}] must be an object, got {type(op).__name__}", index=index)
        decoded.append(_decode_op(op, index))
    return decoded


def _decode_op(op: dict[str, Any], index: int) -> dict[str, Any]:
    op = dict(op)
    encoding = op.pop("encoding", "utf-8")
    if not isinstance(encoding, str):
        raise BadRequest(f"ops[{index}]: field 'encoding' must be a string", index=index)
    data = op.get("data")
    if isinstance(data, str):
        try:
            op["data"] = decode_data(data, encoding, field=f"ops[{index}].data")
        except BadRequest as err:
            err.details["index"] = index
            raise
    elif encoding != "utf-8":
        raise BadRequest(f"ops[{index}]: 'encoding' needs a text 'data' beside it", index=index)
    return op


def multi_ops_of(document: Any) -> list[dict[str, Any]]:
    """The ops of a JSON document: ``{"ops": [...]}`` (the REST body) or the bare list."""
    if isinstance(document, dict):
        unknown = sorted(set(document) - {"ops"})
        if unknown:
            raise BadRequest(f"unknown field(s) {', '.join(unknown)} (expected: ops)")
        if "ops" not in document:
            raise BadRequest("missing field 'ops'")
        document = document["ops"]
    return ops_from_json(document)
