"""One connection from a client to one SkyLock node.

A DEALER socket owned by its own I/O thread (ZeroMQ sockets are not
thread-safe); any thread may call ``request``, which returns a future that the
I/O thread completes when the reply with the same id arrives. Events the server
pushes on the connection go to ``on_event``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import uuid
from concurrent.futures import Future
from typing import Any, Callable

import zmq
from zmq.utils.monitor import parse_monitor_message

from skylock.errors import BadRequest, ConnectionLost
from skylock.net import codec
from skylock.net.address import tcp_endpoint
from skylock.net.io_loop import IOThread

log = logging.getLogger("skylock.client")

#: (the connection, the server's watch id, the event)
EventHandler = Callable[["Connection", int, dict[str, Any]], None]

_OUT = "out"


class Connection:
    def __init__(
        self,
        address: str,
        on_event: EventHandler,
        *,
        on_lost: Callable[["Connection"], None] | None = None,
        context: zmq.Context | None = None,
    ) -> None:
        self.address = address
        self._on_event = on_event
        self._on_lost = on_lost
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._waiting: dict[int, Future[Any]] = {}
        self._closed = False
        #: None until the first connect; then True/False as the socket monitor reports
        self._connected: bool | None = None
        self._dealer: zmq.Socket | None = None
        self._io: IOThread[str] = IOThread(f"client-{address}", self._open, self._deliver, context=context)
        self._io.start()

    def request(self, op: str, args: dict[str, Any]) -> Future[Any]:
        """Send one request; the future holds the result or raises the typed error."""
        future: Future[Any] = Future()
        request_id = next(self._ids)
        with self._lock:
            if self._closed or self._connected is False:
                # Never sent, so it cannot have taken effect: safe to send elsewhere.
                future.set_exception(ConnectionLost(f"not connected to {self.address}", sent=False))
                return future
            self._waiting[request_id] = future
        future.add_done_callback(lambda _f: self._forget(request_id))
        self._io.post(_OUT, (codec.encode_request(request_id, op, args),))
        return future

    def _forget(self, request_id: int) -> None:
        with self._lock:
            self._waiting.pop(request_id, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(ConnectionLost(f"connection to {self.address} closed"))
        self._io.stop()

    # ---- I/O thread ------------------------------------------------------------------

    def _open(self, io: IOThread[str]) -> None:
        dealer = io.socket(zmq.DEALER)
        dealer.setsockopt(zmq.ROUTING_ID, uuid.uuid4().bytes)
        dealer.setsockopt(zmq.RECONNECT_IVL, 50)
        dealer.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        monitor_endpoint = f"inproc://skylock-client-monitor-{id(self)}"
        dealer.monitor(monitor_endpoint, zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        monitor = io.socket(zmq.PAIR)
        monitor.connect(monitor_endpoint)
        dealer.connect(tcp_endpoint(self.address))
        self._dealer = dealer
        io.add_reader(dealer, self._on_frames)
        io.add_reader(monitor, self._on_monitor)

    def _on_monitor(self, frames: list[bytes]) -> None:
        """A lost TCP connection fails the requests in flight at once instead of at
        their timeout; their effect is unknown (they may have been applied)."""
        event = parse_monitor_message(frames)["event"]
        if event == zmq.EVENT_CONNECTED:
            self._connected = True
            return
        if event != zmq.EVENT_DISCONNECTED:
            return
        with self._lock:
            self._connected = False
            waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(ConnectionLost(f"connection to {self.address} lost", sent=True))
        if self._on_lost is not None and not self._closed:
            try:
                self._on_lost(self)
            except Exception:  # noqa: BLE001 - the owner's handler must not kill the I/O thread
                log.exception("connection-lost handler failed")

    def _deliver(self, _key: str, frames: list[bytes]) -> None:
        assert self._dealer is not None
        for frame in frames:
            try:
                self._dealer.send(frame, zmq.NOBLOCK)
            except zmq.Again:
                pass  # queue full: the request times out and the client fails over

    def _on_frames(self, frames: list[bytes]) -> None:
        if len(frames) != 1:
            log.warning("dropped a %d-frame message from %s", len(frames), self.address)
            return
        try:
            msg = codec.parse_server_frame(frames[0])
        except BadRequest as exc:
            log.warning("dropped a malformed frame from %s: %s", self.address, exc)
            return
        if isinstance(msg, codec.PushedEvent):
            try:
                self._on_event(self, msg.watch_id, msg.event)
            except Exception:  # noqa: BLE001 - a user callback must not kill the connection
                log.exception("watch callback failed")
            return
        with self._lock:
            future = self._waiting.pop(msg.id, None) if msg.id is not None else None
        if future is None or future.done():
            return
        if msg.error is not None:
            future.set_exception(msg.error)
        else:
            future.set_result(msg.result)
