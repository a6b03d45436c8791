"""The client-facing ROUTER socket.

Clients connect with a DEALER and send single-frame messages, so the ROUTER sees
``[conn_id, frame]``. Requests go to ``on_request(conn_id, frame)`` (on the I/O
thread: hand off quickly); replies and pushed watch events come back through
``send(conn_id, frame)`` from any thread. Frames to a connection that has gone
away are dropped silently by the ROUTER (``ROUTER_MANDATORY`` off), never blocking.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import zmq

from skylock.net.address import bound_address, tcp_endpoint
from skylock.net.io_loop import IOService, IOThread

log = logging.getLogger(__name__)

#: per-connection queue bound on the socket; beyond it zmq drops frames to that client
SNDHWM = 10000
#: frames queued per connection before the I/O thread picks them up
QUEUE_LIMIT = 10000


class ClientServer(IOService[bytes]):
    """Receives client frames and sends replies/events back by connection id."""

    def __init__(
        self,
        bind: str,
        on_request: Callable[[bytes, bytes], None],
        *,
        context: zmq.Context | None = None,
    ) -> None:
        super().__init__(
            f"client-io-{bind}",
            ("received", "sent", "dropped_malformed", "dropped_unreachable"),
            context=context,
            queue_limit=QUEUE_LIMIT,
        )
        self._bind = bind
        self._on_request = on_request
        self._router: zmq.Socket | None = None

    def send(self, conn_id: bytes, frame: bytes) -> None:
        """Queue a reply or event for a connection; thread-safe, never blocks."""
        self._io.post(conn_id, (frame,))

    # ------------------------------------------------------------------ I/O thread

    def _open(self, io: IOThread[bytes]) -> None:
        router = io.socket(zmq.ROUTER)
        router.setsockopt(zmq.ROUTER_MANDATORY, 0)
        router.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a client reconnecting with its own id takes over
        router.setsockopt(zmq.SNDHWM, SNDHWM)
        router.bind(tcp_endpoint(self._bind))
        self._address = bound_address(router)
        self._router = router
        io.add_reader(router, self._on_message)

    def _deliver(self, conn_id: bytes, frames: list[bytes]) -> None:
        router = self._router
        assert router is not None
        sent = 0
        for frame in frames:
            try:
                router.send_multipart((conn_id, frame), zmq.NOBLOCK)
                sent += 1
            except zmq.ZMQError as exc:  # Again (HWM) or EHOSTUNREACH: drop, never block
                self._count("dropped_unreachable")
                log.debug("reply to connection %r dropped: %s", conn_id[:16], exc)
        self._count("sent", sent)

    def _on_message(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            self._count("dropped_malformed")
            log.warning("dropped a client message of %d frames (want [conn_id, frame])", len(frames))
            return
        self._count("received")
        self._on_request(frames[0], frames[1])
