"""The client-facing ROUTER socket.

Clients connect with a DEALER and send single-frame messages, so the ROUTER sees
``[conn_id, frame]``. Requests go to ``on_request(conn_id, frame)`` (on the I/O
thread: hand off quickly); replies and pushed watch events come back through
``send(conn_id, frame)`` from any thread. Frames to a connection that has gone
away are dropped (counted), never blocking.

A client that reads slower than it is written to fills its queue. Its frames are
then held back, in order and up to ``BACKLOG_LIMIT``, and retried, and
``on_overflow(conn_id)`` is called once: the node ends that connection's watches
with a resync event, so no event is ever skipped silently (DESIGN section 6).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import zmq

from skylock.net.address import bound_address, tcp_endpoint
from skylock.net.curve import CLIENT_DOMAIN, KeyPair, serve_curve
from skylock.net.io_loop import IOService, IOThread

log = logging.getLogger(__name__)

#: per-connection queue bound on the socket; beyond it zmq drops frames to that client
SNDHWM = 10000
#: frames queued per connection before the I/O thread picks them up
QUEUE_LIMIT = 10000
#: frames held back for a slow connection; beyond this they are dropped (counted)
BACKLOG_LIMIT = 10000
#: how often a held-back backlog is retried
RETRY_MS = 10


class ClientServer(IOService[bytes]):
    """Receives client frames and sends replies/events back by connection id."""

    def __init__(
        self,
        bind: str,
        on_request: Callable[[bytes, bytes], None],
        *,
        on_overflow: Callable[[bytes], None] | None = None,
        context: zmq.Context | None = None,
        sndhwm: int = SNDHWM,
        curve: KeyPair | None = None,
    ) -> None:
        """``curve``: the node's key pair in secure mode; the socket is then a CURVE server
        that takes any client key (the token in each frame identifies the caller)."""
        super().__init__(
            f"client-io-{bind}",
            ("received", "sent", "dropped_malformed", "dropped_unreachable", "overflows", "dropped_backlog"),
            context=context,
            queue_limit=QUEUE_LIMIT,
        )
        self._bind = bind
        self._on_request = on_request
        self._on_overflow = on_overflow
        self._sndhwm = sndhwm
        self._curve = curve
        self._router: zmq.Socket | None = None
        self._backlog: dict[bytes, list[bytes]] = {}  # I/O thread only

    def send(self, conn_id: bytes, frame: bytes) -> None:
        """Queue a reply or event for a connection; thread-safe, never blocks."""
        self._io.post(conn_id, (frame,))

    # ------------------------------------------------------------------ I/O thread

    def _open(self, io: IOThread[bytes]) -> None:
        router = io.socket(zmq.ROUTER)
        # mandatory: a full queue says EAGAIN (and an unknown peer EHOSTUNREACH) instead of
        # the ROUTER dropping the frame without a word
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        router.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a client reconnecting with its own id takes over
        router.setsockopt(zmq.SNDHWM, self._sndhwm)
        if self._curve is not None:
            serve_curve(router, self._curve, CLIENT_DOMAIN)
        router.bind(tcp_endpoint(self._bind))
        self._address = bound_address(router)
        self._router = router
        io.add_reader(router, self._on_message)

    def _deliver(self, conn_id: bytes, frames: list[bytes]) -> None:
        router = self._router
        assert router is not None
        held = self._backlog.pop(conn_id, None)
        if held is not None:
            frames = held + frames  # what was held back goes first: order is kept
        sent = 0
        for i, frame in enumerate(frames):
            try:
                router.send_multipart((conn_id, frame), zmq.NOBLOCK)
                sent += 1
            except zmq.Again:
                self._hold(conn_id, frames[i:], first=held is None)
                break
            except zmq.ZMQError as exc:  # EHOSTUNREACH: the client is gone, drop
                self._count("dropped_unreachable")
                log.debug("reply to connection %r dropped: %s", conn_id[:16], exc)
        self._count("sent", sent)

    def _hold(self, conn_id: bytes, frames: list[bytes], *, first: bool) -> None:
        """The client's queue is full: keep its frames and retry; tell the node once."""
        kept = frames[:BACKLOG_LIMIT]
        if len(frames) > len(kept):
            self._count("dropped_backlog", len(frames) - len(kept))
        self._backlog[conn_id] = kept
        self._io.poll_timeout_ms = RETRY_MS
        if first:
            self._count("overflows")
            log.warning("connection %r reads too slowly: %d frame(s) held back", conn_id[:16], len(kept))
            if self._on_overflow is not None:
                self._on_overflow(conn_id)

    def _after_poll(self) -> None:
        for conn_id in list(self._backlog):
            self._deliver(conn_id, [])
        if not self._backlog:
            self._io.poll_timeout_ms = None

    def _on_message(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            self._count("dropped_malformed")
            log.warning("dropped a client message of %d frames (want [conn_id, frame])", len(frames))
            return
        self._count("received")
        self._on_request(frames[0], frames[1])
