"""One asyncio connection from an ``AsyncClient`` to one SkyLock node.

The asyncio twin of ``skylock.client.connection``, with the same wire protocol and
rules: one ``zmq.asyncio`` DEALER, configured like every client socket
(``connect_dealer``: ``IMMEDIATE``, CURVE in secure mode); requests are frames of
``codec.encode_request``, replies are matched to them by id, so any number may be in
flight on the one socket, and the server's pushed watch events arrive on it too
(``on_event``).

``IMMEDIATE`` makes "was it sent?" answerable: the socket takes a frame only once the
server is connected, so ``send`` either hands the frame over or, after
``connect_timeout``, raises ``ConnectionLost(sent=False)``: never sent, safe to send to
the next server whatever the op. A monitor task watches the TCP connection: when it
drops, every request still waiting fails at once with ``ConnectionLost(sent=True)``
(its effect is unknown) and the owner hears of it (``on_lost``), so it can move its
watches. A keepalive ping goes out when nothing was sent for a while, so the server
keeps the watches of a client that only watches.

Everything runs on the event loop that created the connection: no threads, no locks.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any, Callable, cast

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from skylock.client.connection import KEEPALIVE_INTERVAL, connect_dealer, parse_message
from skylock.client.zxid_floor import ZxidFloor
from skylock.errors import ConnectionLost, SkyLockError
from skylock.net import codec
from skylock.net.curve import KeyPair

log = logging.getLogger("skylock.client")

#: (the connection, the server's watch id, the event)
EventHandler = Callable[["AsyncConnection", int, dict[str, Any]], None]

_MONITORED = zmq.EVENT_CONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED


class AsyncConnection:
    def __init__(self, address: str, context: zmq.asyncio.Context, on_event: EventHandler,
                 on_lost: Callable[["AsyncConnection"], None], *, connect_timeout: float,
                 server_key: bytes | None, keys: KeyPair | None, token: str | None,
                 floor: ZxidFloor | None = None) -> None:
        """Call on the running loop: the connection's tasks start at once. ``floor``: the
        client's newest state seen (``skylock/client/zxid_floor.py``)."""
        self.address = address
        self.floor = floor or ZxidFloor()
        self.connect_timeout = connect_timeout
        self.token = token
        self._on_event = on_event
        self._on_lost = on_lost
        self._loop = asyncio.get_running_loop()
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._connected: bool | None = None  # None until the first connect
        self._closed = False
        self._probe: asyncio.Task[bool] | None = None
        self._sock = context.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._monitor = self._sock.get_monitor_socket(_MONITORED)
        connect_dealer(self._sock, address, server_key, keys)
        self._last_sent = self._loop.time()
        self._tasks = [self._loop.create_task(coro) for coro in (self._read(), self._watch_link(), self._keepalive())]

    @property
    def closed(self) -> bool:
        return self._closed

    async def send(self, op: str, args: dict[str, Any], connect_timeout: float | None = None
                   ) -> tuple[int, "asyncio.Future[Any]"]:
        """Send one request; returns its id and the future of its reply (``forget`` the id when
        done waiting). ``ConnectionLost(sent=False)`` when the connection is closed, known to be
        down, or does not reach the server within ``connect_timeout`` (default: the connection's)."""
        request_id = next(self._ids)
        frame = codec.encode_request(request_id, op, self.floor.stamp(op, args), token=self.token)
        give_up = self._loop.time() + (self.connect_timeout if connect_timeout is None else connect_timeout)
        while True:
            if self._closed or self._connected is False:
                raise ConnectionLost(f"not connected to {self.address}", sent=False)
            reply: asyncio.Future[Any] = self._loop.create_future()
            self._waiting[request_id] = reply
            if self._try_send(frame):
                return request_id, reply
            self._waiting.pop(request_id, None)
            remaining = give_up - self._loop.time()
            if remaining <= 0 or not await self._writable(remaining):
                raise ConnectionLost(f"could not reach {self.address} within {self.connect_timeout:g}s", sent=False)

    def _try_send(self, frame: bytes) -> bool:
        """False when the socket is not connected (``IMMEDIATE``): nothing was sent."""
        try:
            # an asyncio future (pyzmq's stubs say Awaitable), settled at once: no send is left waiting
            sent = cast("asyncio.Future[Any]", self._sock.send(frame, zmq.NOBLOCK))
            if sent.done() and sent.exception() is None:
                self._last_sent = self._loop.time()
                return True
            if not sent.done():
                sent.cancel()
        except zmq.ZMQError:  # closed under us
            pass
        return False

    async def _writable(self, timeout: float) -> bool:
        try:
            return bool(await self._sock.poll(max(1, int(timeout * 1000)), zmq.POLLOUT))  # type: ignore[call-arg]
        except zmq.ZMQError:
            return False

    def forget(self, request_id: int) -> None:
        """Stop waiting for a reply (a late one is then dropped)."""
        self._waiting.pop(request_id, None)

    async def alive(self, timeout: float) -> bool:
        """Does the server still answer (a ping on this socket within ``timeout``)? Concurrent
        askers share one ping."""
        if self._probe is None or self._probe.done():
            self._probe = self._loop.create_task(self._ping(timeout))
        return await asyncio.shield(self._probe)

    async def _ping(self, timeout: float) -> bool:
        request_id = None
        try:
            request_id, reply = await self.send("ping", {}, timeout)
            await asyncio.wait_for(reply, timeout)
            return True
        except (SkyLockError, TimeoutError):
            return False
        finally:
            if request_id is not None:
                self.forget(request_id)

    def close(self) -> None:
        """Stop the tasks, close the sockets, fail what waits (it may have been sent)."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        self._monitor.close(linger=0)
        self._sock.close(linger=0)
        self._fail_waiting(ConnectionLost(f"connection to {self.address} closed", sent=True))

    def _fail_waiting(self, error: ConnectionLost) -> None:
        waiting, self._waiting = self._waiting, {}
        for reply in waiting.values():
            if not reply.done():
                reply.set_exception(error)
                reply.exception()  # a caller that stopped waiting must not leave it "never retrieved"

    # ---- tasks --------------------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            try:
                frames = await self._sock.recv_multipart()
            except zmq.ZMQError:
                return  # closed
            msg = parse_message(frames, self.address)
            self.floor.saw(msg)
            if isinstance(msg, codec.PushedEvent):
                try:
                    self._on_event(self, msg.watch_id, msg.event)
                except Exception:  # noqa: BLE001 - routing must not end the connection
                    log.exception("watch event routing failed")
            elif msg is not None:
                reply = self._waiting.pop(msg.id, None) if msg.id is not None else None
                if reply is not None and not reply.done():
                    if msg.error is not None:
                        reply.set_exception(msg.error)
                    else:
                        reply.set_result(msg.result)

    async def _watch_link(self) -> None:
        """The monitor: connected, or lost (then every waiting request fails at once)."""
        while True:
            try:
                event = parse_monitor_message(await self._monitor.recv_multipart())["event"]
            except zmq.ZMQError:
                return  # closed
            if event in (zmq.EVENT_CONNECTED, zmq.EVENT_HANDSHAKE_SUCCEEDED):
                self._connected = True
            elif event == zmq.EVENT_DISCONNECTED:
                self._connected = False
                self._fail_waiting(ConnectionLost(f"connection to {self.address} lost", sent=True))
                if not self._closed:
                    self._on_lost(self)
                return

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(max(0.0, self._last_sent + KEEPALIVE_INTERVAL - self._loop.time()))
            if self._loop.time() - self._last_sent < KEEPALIVE_INTERVAL:
                continue  # a request went out meanwhile
            ping = codec.encode_request(next(self._ids), "ping", {}, token=self.token)
            if not (self._connected and self._try_send(ping)):
                self._last_sent = self._loop.time()  # not connected: nothing to keep alive yet
