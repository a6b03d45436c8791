"""The one way actors answer clients: encode a reply or event and hand it to the
client server (sent at once on the thread that serves its socket, the Store's; queued
for that thread from any other). Being the one way, it is also where a request's
latency ends: each reply to a measured request is observed."""

from __future__ import annotations

import time
from typing import Any, Callable

from skylock.actors.messages import ReplyTo
from skylock.actors.node_metrics import NodeMetrics
from skylock.errors import SkyLockError
from skylock.net import codec
from skylock.net.client_server import Kept

Send = Callable[[bytes, bytes], None]


class Outbox:
    def __init__(self, send: Send, metrics: NodeMetrics | None = None) -> None:
        self._send = send
        self._metrics = metrics

    def ok(self, reply: ReplyTo, result: Any, *, zxid: int | None = None) -> None:
        """``zxid``: the write's entry, for an answer to one (reads carry theirs in the result)."""
        self._send(reply.conn_id, codec.encode_reply(reply.request_id, result, zxid))
        self._measure(reply)

    def error(self, reply: ReplyTo, err: SkyLockError) -> None:
        self._send(reply.conn_id, codec.encode_error(reply.request_id, err))
        self._measure(reply)

    def _measure(self, reply: ReplyTo) -> None:
        if reply.started and self._metrics is not None:
            self._metrics.observe_request(reply.op, time.monotonic() - reply.started)

    def event(self, conn_id: bytes, watch_id: int, event: dict[str, Any], *, keep: bool = False) -> None:
        """``keep``: a resync that ends a watch, which no overflow of a slow reader drops."""
        frame = codec.encode_event(watch_id, event)
        self._send(conn_id, Kept(frame) if keep else frame)
