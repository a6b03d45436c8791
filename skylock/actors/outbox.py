"""The one way actors answer clients: encode a reply or event and hand it to the
client server's I/O thread (actors never touch a socket)."""

from __future__ import annotations

from typing import Any, Callable

from skylock.actors.messages import ReplyTo
from skylock.errors import SkyLockError
from skylock.net import codec
from skylock.net.client_server import Kept

Send = Callable[[bytes, bytes], None]


class Outbox:
    def __init__(self, send: Send) -> None:
        self._send = send

    def ok(self, reply: ReplyTo, result: Any) -> None:
        self._send(reply.conn_id, codec.encode_reply(reply.request_id, result))

    def error(self, reply: ReplyTo, err: SkyLockError) -> None:
        self._send(reply.conn_id, codec.encode_error(reply.request_id, err))

    def event(self, conn_id: bytes, watch_id: int, event: dict[str, Any], *, keep: bool = False) -> None:
        """``keep``: a resync that ends a watch, which no overflow of a slow reader drops."""
        frame = codec.encode_event(watch_id, event)
        self._send(conn_id, Kept(frame) if keep else frame)
