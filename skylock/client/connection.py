"""One connection from a client to one SkyLock node.

Two ways to send a request, to the same address:

- ``begin``/``call``, the synchronous path used for plain requests: the calling
  thread takes a DEALER socket from a small pool, sends, and receives the reply
  itself. No thread hand-off, which costs more than the round trip to a local
  node. A ZeroMQ socket may be used by any thread as long as one uses it at a
  time; the pool, under the connection's lock, gives each caller its own.
- ``request``: a DEALER socket owned by the connection's I/O thread; any thread
  may call it and gets a future that the I/O thread completes when the reply
  with the same id arrives (``send`` hands the outcome to an object of the
  caller's instead: the async pipeline's attempts). The server pushes a watch's events to the socket that
  registered it, so requests that register or remove watches use this socket,
  and its events go to ``on_event``, called on the I/O thread: it must not block
  (``Client`` only queues the event for its event thread, skylock/client/events.py).
  Its monitor tracks whether the server is connected, for both paths.

Every socket is ``IMMEDIATE``: it takes a message only once its connection to the
server is established (TCP and the ZeroMQ handshake), so a request either leaves
for a server that is there or is not sent at all. A request whose socket does not
connect within ``connect_timeout`` fails with ``ConnectionLost(sent=False)``: it
cannot have taken effect, so the client sends it, whatever the op, to the next
server. Without this a dead server's socket would queue the request and the
caller could only wait for a reply that never comes, not knowing if it was sent.

Secure mode: given the server's CURVE public key (``server_key``), every socket is a
CURVE client with ``keys`` (a pair made for this process when not given), so the
traffic is encrypted and the server proven to be the one holding that key; every
frame then carries ``token``, the caller's bearer token.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable, Protocol

import zmq
from zmq.utils.monitor import parse_monitor_message

from skylock.client.zxid_floor import ZxidFloor
from skylock.errors import BadRequest, ConnectionLost
from skylock.net import codec
from skylock.net.address import tcp_endpoint
from skylock.net.curve import KeyPair, connect_curve
from skylock.net.io_loop import NOBLOCK, IOThread, recv_message

log = logging.getLogger("skylock.client")

#: (the connection, the server's watch id, the event)
EventHandler = Callable[["Connection", int, dict[str, Any]], None]


class ReplyTarget(Protocol):
    """What a request sent through the I/O thread is answered to: a ``Future``, or anything
    with its three methods. Completed once, on the I/O thread (or at ``close``)."""

    def set_result(self, result: Any) -> None: ...

    def set_exception(self, exception: BaseException) -> None: ...

    def done(self) -> bool: ...

#: Default seconds a request waits for its socket to reach the server before trying the next one.
CONNECT_TIMEOUT = 1.0

#: How often the I/O thread tries again to send requests held until the server is connected.
UNSENT_RETRY_MS = 10

#: Longest a synchronous caller blocks in one receive before it looks again at whether
#: the connection was closed or lost (the monitor runs on the I/O thread).
SYNC_POLL_SLICE = 0.05

#: Longest frame read from a server: replies carry node data (1 MiB by default) or long
#: child lists. A longer one drops the connection instead of being read whole.
MAX_REPLY_SIZE = 64 << 20
#: The I/O thread's socket pings when it sent nothing for this long, so the server,
#: which ends the watches of a connection silent for ``server.watch_idle_timeout``
#: (30 s by default), keeps those of a client that only watches.
KEEPALIVE_INTERVAL = 5.0


def connect_dealer(dealer: zmq.Socket, address: str, server_key: bytes | None, keys: KeyPair | None) -> None:
    """The options every client DEALER shares (the synchronous and the asyncio client's);
    connects it to ``address``, as a CURVE client of ``server_key`` when given."""
    dealer.setsockopt(zmq.ROUTING_ID, uuid.uuid4().bytes)
    dealer.setsockopt(zmq.IMMEDIATE, 1)  # no queueing for a server that is not there
    dealer.setsockopt(zmq.RECONNECT_IVL, 50)
    dealer.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
    dealer.setsockopt(zmq.MAXMSGSIZE, MAX_REPLY_SIZE)
    if server_key is not None:
        assert keys is not None
        connect_curve(dealer, keys, server_key)
    dealer.connect(tcp_endpoint(address))


class Connection:
    def __init__(
        self,
        address: str,
        on_event: EventHandler,
        *,
        on_lost: Callable[["Connection"], None] | None = None,
        context: zmq.Context | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        server_key: bytes | None = None,
        keys: KeyPair | None = None,
        token: str | None = None,
        floor: ZxidFloor | None = None,
    ) -> None:
        """``floor``: the client's newest state seen, stamped on its local reads and raised
        by every answer (``skylock/client/zxid_floor.py``); shared by its connections."""
        self.address = address
        self.floor = floor or ZxidFloor()
        self.connect_timeout = connect_timeout
        self._server_key = server_key
        self._keys = (keys or KeyPair.generate()) if server_key is not None else None
        #: sent in every frame unless a request names its own (the HTTP link: each caller's)
        self.token = token
        self._on_event = on_event
        self._on_lost = on_lost
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._waiting: dict[int, ReplyTarget] = {}
        self._closed = False
        #: None until the first connect; then True/False as the socket monitor reports
        self._connected: bool | None = None
        #: how many times the monitor saw the server go away: a synchronous caller that
        #: sees it change while it waits knows its request's fate is unknown
        self._losses = 0
        self._idle: list[zmq.Socket] = []  # the synchronous path's sockets not in use
        self._sync_sockets = 0  # open synchronous sockets, idle or in use
        #: replies discarded on a synchronous socket because their caller had stopped waiting
        self.stale_replies = 0
        self._dealer: zmq.Socket | None = None
        #: on the I/O thread: requests held until the server is connected, with their give-up time
        self._unsent: dict[int, tuple[list[bytes], float]] = {}
        #: ids of requests posted to the I/O thread and not (yet) sent, so a request failed
        #: by ``close`` or a lost connection says truly whether it may have taken effect
        self._not_sent: set[int] = set()
        self._last_sent = time.monotonic()  # I/O thread only
        self._io: IOThread[int] = IOThread(f"client-{address}", self._open, self._deliver, context=context,
                                           after_poll=self._after_poll)
        self._io.poll_timeout_ms = max(1, int(KEEPALIVE_INTERVAL * 1000))
        self._io.start()

    @property
    def sync_sockets(self) -> int:
        """How many sockets the synchronous path holds open: at most one per concurrent caller."""
        return self._sync_sockets

    # ---- the synchronous path ------------------------------------------------------------

    def begin(self, op: str, args: dict[str, Any], connect_timeout: float | None = None) -> "SyncRequest":
        """Send one request from the calling thread on a pooled socket; the returned
        ``SyncRequest`` receives its reply on the calling thread (``result``) and must be
        ``cancel``-ed to give the socket back. Raises ``ConnectionLost(sent=False)`` when
        the connection is closed, known to be down, or does not reach the server within
        ``connect_timeout`` (default: the connection's): never sent, safe to send elsewhere."""
        request_id = next(self._ids)
        with self._lock:
            if self._closed or self._connected is False:
                raise ConnectionLost(f"not connected to {self.address}", sent=False)
            losses = self._losses
            sock = self._idle.pop() if self._idle else None
            if sock is None:
                self._sync_sockets += 1
        request = SyncRequest(self, sock or self._new_socket(), request_id, losses)
        request.wait_connected(self.connect_timeout if connect_timeout is None else connect_timeout)
        request.send(request_id, op, args)
        return request

    def call(self, op: str, args: dict[str, Any], timeout: float) -> Any:
        """``begin`` then ``result(timeout)``: one request answered on the calling thread.

        Raises the reply's typed error, ``ConnectionLost``, or ``concurrent.futures.TimeoutError``
        when ``timeout`` passes without a reply (a late reply is discarded)."""
        request = self.begin(op, args)
        try:
            return request.result(timeout)
        finally:
            request.cancel()

    def _new_socket(self) -> zmq.Socket:
        try:
            sock = self._io.context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.RCVTIMEO, max(1, int(SYNC_POLL_SLICE * 1000)))
            self._configure(sock)
            return sock
        except zmq.ZMQError as exc:  # e.g. the context is being terminated by Client.close
            with self._lock:
                self._sync_sockets -= 1
            raise ConnectionLost(f"cannot open a socket to {self.address}: {exc}", sent=False) from None

    def _configure(self, dealer: zmq.Socket) -> None:
        connect_dealer(dealer, self.address, self._server_key, self._keys)

    def _release(self, sock: zmq.Socket) -> None:
        """Back to the pool, or closed when the connection is (``close`` skips sockets in use)."""
        with self._lock:
            if not self._closed and not sock.closed:
                self._idle.append(sock)
                return
            self._sync_sockets -= 1
        sock.close(linger=0)

    def _check_waiting(self, losses: int) -> None:
        """Between receive slices: fail a synchronous wait the way ``request`` fails its future."""
        if self._losses != losses:  # first: a lost connection is closed right after
            raise ConnectionLost(f"connection to {self.address} lost", sent=True)
        if self._closed:
            raise ConnectionLost(f"connection to {self.address} closed")

    # ---- the I/O thread's socket ---------------------------------------------------------

    def request(self, op: str, args: dict[str, Any], *, token: str | None = None) -> Future[Any]:
        """Send one request through the I/O thread; the future holds the result or raises
        the typed error. For requests tied to this connection's identity (watches).
        ``token`` replaces the connection's own for this request.
        Never blocks: a request the I/O thread cannot send until the server is connected
        waits there up to ``connect_timeout``, then fails with ``ConnectionLost(sent=False)``."""
        future: Future[Any] = Future()
        request_id = self.send(op, args, future, token=token)
        if request_id is not None:
            future.add_done_callback(lambda _f: self.withdraw(request_id))  # e.g. cancelled
        return future

    def send(self, op: str, args: dict[str, Any], target: ReplyTarget, *, token: str | None = None) -> int | None:
        """``request`` with the outcome handed to ``target`` (on the I/O thread, once) instead
        of a new future: the async pipeline's attempts, which need no future of their own.
        Returns the request's id for ``withdraw``; None when it failed at once (``target`` knows)."""
        request_id = next(self._ids)
        frame = codec.encode_request(request_id, op, self.floor.stamp(op, args),
                                     token=token if token is not None else self.token)
        with self._lock:
            refused = self._closed or self._connected is False
            if not refused:
                self._waiting[request_id] = target
                self._not_sent.add(request_id)
        if refused:  # never sent, so it cannot have taken effect: safe to send elsewhere
            target.set_exception(ConnectionLost(f"not connected to {self.address}", sent=False))
            return None
        self._io.post(request_id, (frame,))
        return request_id

    def withdraw(self, request_id: int) -> None:
        """Stop waiting for a request: its reply is dropped, and it is not sent if it has not been."""
        with self._lock:
            self._waiting.pop(request_id, None)
            self._not_sent.discard(request_id)

    def close(self) -> None:
        """Close the idle synchronous sockets (one in use is closed when its caller, who
        notices within ``SYNC_POLL_SLICE``, gives it back), stop the I/O thread, then fail
        what waits: ``sent=False`` for requests it never sent, which may go elsewhere."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._sync_sockets -= len(idle)
        for sock in idle:
            sock.close(linger=0)
        self._io.stop()  # joined (unless called on it): nothing is being sent while we look
        with self._lock:
            waiting, self._waiting = self._waiting, {}
            not_sent, self._not_sent = self._not_sent, set()
        for request_id, target in waiting.items():
            if not target.done():
                target.set_exception(ConnectionLost(f"connection to {self.address} closed",
                                                    sent=request_id not in not_sent))

    # ---- I/O thread ------------------------------------------------------------------

    def _open(self, io: IOThread[int]) -> None:
        dealer = io.socket(zmq.DEALER)
        monitor_endpoint = f"inproc://skylock-client-monitor-{id(self)}"
        dealer.monitor(monitor_endpoint,
                       zmq.EVENT_CONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
        monitor = io.socket(zmq.PAIR)
        monitor.connect(monitor_endpoint)
        self._configure(dealer)
        self._dealer = dealer
        io.add_reader(dealer, self._on_frames)
        io.add_reader(monitor, self._on_monitor)

    def _on_monitor(self, frames: list[bytes]) -> None:
        """A lost TCP connection fails the requests in flight at once instead of at
        their timeout; their effect is unknown (they may have been applied)."""
        event = parse_monitor_message(frames)["event"]
        if event in (zmq.EVENT_CONNECTED, zmq.EVENT_HANDSHAKE_SUCCEEDED):
            self._connected = True
            self._retry_unsent()  # the handshake makes the socket writable
            return
        if event != zmq.EVENT_DISCONNECTED:
            return
        with self._lock:
            self._connected = False
            self._losses += 1  # synchronous callers see it at their next receive slice
            waiting, self._waiting = self._waiting, {}
            unsent, self._not_sent = self._not_sent, set()
        self._unsent.clear()
        self._io.poll_timeout_ms = None
        for request_id, target in waiting.items():
            if not target.done():
                target.set_exception(ConnectionLost(f"connection to {self.address} lost",
                                                    sent=request_id not in unsent))
        if self._on_lost is not None and not self._closed:
            try:
                self._on_lost(self)
            except Exception:  # noqa: BLE001 - the owner's handler must not kill the I/O thread
                log.exception("connection-lost handler failed")

    def _deliver(self, request_id: int, frames: list[bytes]) -> None:
        """Send, or hold until the server is connected: after those held before it, so a
        connection's requests leave in the order they were made."""
        self._unsent[request_id] = (frames, time.monotonic() + self.connect_timeout)
        self._retry_unsent()

    def _after_poll(self) -> None:
        """After every wake-up of the I/O thread (at least every ``KEEPALIVE_INTERVAL``)."""
        self._retry_unsent()
        self._keepalive()

    def _keepalive(self) -> None:
        """A connection silent for ``KEEPALIVE_INTERVAL`` pings (its reply is ignored), so the
        server does not take it for gone and drop its watches (``server.watch_idle_timeout``)."""
        if not self._unsent and time.monotonic() - self._last_sent >= KEEPALIVE_INTERVAL:
            self._send_now([codec.encode_request(next(self._ids), "ping", {})])

    def _send_now(self, frames: list[bytes]) -> bool:
        """False when the socket is not connected (``IMMEDIATE``): nothing was sent."""
        assert self._dealer is not None
        for frame in frames:
            try:
                self._dealer.send(frame, zmq.NOBLOCK)
            except zmq.Again:
                return False  # one frame per request: nothing of it left
        self._last_sent = time.monotonic()
        return True

    def _retry_unsent(self) -> None:
        """On the I/O thread: send, in order, what waited for the connection; fail, as never
        sent, what waited longer than ``connect_timeout`` (the client then tries another server)."""
        now = time.monotonic()
        blocked = False
        for request_id, (frames, give_up) in list(self._unsent.items()):
            if request_id not in self._waiting:  # its caller stopped waiting: better unsent
                del self._unsent[request_id]
            elif not blocked and self._send_now(frames):
                del self._unsent[request_id]
                with self._lock:
                    self._not_sent.discard(request_id)
            elif now >= give_up:
                del self._unsent[request_id]
                self._fail_unsent(request_id)
            else:
                blocked = True
        self._io.poll_timeout_ms = UNSENT_RETRY_MS if self._unsent else int(KEEPALIVE_INTERVAL * 1000)

    def _fail_unsent(self, request_id: int) -> None:
        with self._lock:
            target = self._waiting.pop(request_id, None)
            self._not_sent.discard(request_id)
        if target is not None and not target.done():
            target.set_exception(ConnectionLost(
                f"could not reach {self.address} within {self.connect_timeout:g}s", sent=False))

    def _on_frames(self, frames: list[bytes]) -> None:
        msg = self._parse(frames)
        if msg is None:
            return
        if isinstance(msg, codec.PushedEvent):
            try:
                self._on_event(self, msg.watch_id, msg.event)
            except Exception:  # noqa: BLE001 - the owner's handler must not kill the I/O thread
                log.exception("event handler failed")
            return
        with self._lock:
            target = self._waiting.pop(msg.id, None) if msg.id is not None else None
        if target is None or target.done():
            return
        if msg.error is not None:
            target.set_exception(msg.error)
        else:
            target.set_result(msg.result)

    def _parse(self, frames: list[bytes]) -> codec.Reply | codec.PushedEvent | None:
        msg = parse_message(frames, self.address)
        self.floor.saw(msg)
        return msg


def parse_message(frames: list[bytes], address: str) -> codec.Reply | codec.PushedEvent | None:
    """A server message, or None (logged) when it is malformed."""
    if len(frames) != 1:
        log.warning("dropped a %d-frame message from %s", len(frames), address)
        return None
    try:
        return codec.parse_server_frame(frames[0])
    except BadRequest as exc:
        log.warning("dropped a malformed frame from %s: %s", address, exc)
        return None


class SyncRequest:
    """A request sent on one of a connection's pooled sockets, answered on the thread
    that waits for it. One thread uses it; ``cancel`` gives the socket back.

    Has a future's ``result(timeout)`` and ``cancel()``, so a caller can wait for either.
    A reply that comes after its caller stopped waiting stays in the socket; the next
    user of the socket discards it by its id.
    """

    def __init__(self, conn: Connection, sock: zmq.Socket, request_id: int, losses: int) -> None:
        self._conn = conn
        self._sock: zmq.Socket | None = sock
        self.id = request_id
        self._losses = losses
        self._reply: codec.Reply | None = None

    def wait_connected(self, timeout: float) -> None:
        """Wait until the socket reaches the server (``IMMEDIATE``: then it is writable);
        ``ConnectionLost(sent=False)`` and the socket given back if it does not in ``timeout``."""
        sock = self._sock
        assert sock is not None
        try:
            ready = sock.poll(max(0, math.ceil(timeout * 1000)), zmq.POLLOUT)
        except zmq.ZMQError as exc:  # the context is terminating: Client.close
            sock.close(linger=0)  # not back to the pool: cancel counts it out
            self.cancel()
            raise ConnectionLost(f"connection to {self._conn.address} closed: {exc}", sent=False) from None
        if not ready:
            self.cancel()
            raise ConnectionLost(f"could not reach {self._conn.address} within {timeout:g}s", sent=False)

    def send(self, request_id: int, op: str, args: dict[str, Any]) -> None:
        sock = self._sock
        assert sock is not None
        try:
            frame = codec.encode_request(request_id, op, self._conn.floor.stamp(op, args), token=self._conn.token)
            sock.send(frame, zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # Again (queue full) or the context is terminating: not sent
            sock.close(linger=0)  # not back to the pool: cancel counts it out
            if request_id == self.id:
                self.cancel()
            raise ConnectionLost(f"could not send {op} to {self._conn.address}: {exc}", sent=False) from None

    def result(self, timeout: float) -> Any:
        """The reply's result, or its typed error; ``ConnectionLost`` when the connection is
        closed or lost first; ``concurrent.futures.TimeoutError`` after ``timeout`` seconds."""
        reply = self._reply or self._receive(timeout)
        if reply.error is not None:
            raise reply.error
        return reply.result

    def ping(self, timeout: float) -> None:
        """Check that the server still answers on this very socket; raises like ``result``.
        The awaited reply, should it come first, proves it as well (and is kept)."""
        if self._reply is not None:
            return
        ping_id = next(self._conn._ids)
        self.send(ping_id, "ping", {})
        reply = self._receive(timeout, ping_id)
        if reply.id == ping_id and reply.error is not None:
            raise reply.error

    def cancel(self) -> bool:
        """Stop waiting and give the socket back to the pool (idempotent)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            self._conn._release(sock)
        return True

    def _receive(self, timeout: float, ping_id: int | None = None) -> codec.Reply:
        """The next reply to this request (kept) or to ``ping_id``; others are stale."""
        conn, sock = self._conn, self._sock
        if sock is None:
            raise ConnectionLost(f"request {self.id} to {conn.address} was cancelled")
        deadline = time.monotonic() + timeout
        while True:
            conn._check_waiting(self._losses)
            remaining = deadline - time.monotonic()
            try:
                if remaining >= SYNC_POLL_SLICE:
                    frames = recv_message(sock)  # RCVTIMEO ends it after one slice
                elif sock.poll(max(0, math.ceil(remaining * 1000))):
                    frames = recv_message(sock, NOBLOCK)
                else:
                    raise FutureTimeout(f"no reply from {conn.address} within {timeout}s")
            except zmq.Again:
                continue
            except zmq.ZMQError as exc:  # the context is terminating: Client.close
                sock.close(linger=0)  # not back to the pool: cancel counts it out
                raise ConnectionLost(f"connection to {conn.address} closed: {exc}") from None
            msg = conn._parse(frames)
            if isinstance(msg, codec.PushedEvent):
                log.debug("dropped an event for watch %d on a synchronous socket", msg.watch_id)
            elif msg is None:
                continue
            elif msg.id == self.id:
                self._reply = msg
                return msg
            elif msg.id is not None and msg.id == ping_id:
                return msg
            else:
                with conn._lock:
                    conn.stale_replies += 1
                log.debug("discarded a stale reply to request %s from %s", msg.id, conn.address)
