"""The client-facing ROUTER socket.

Clients connect with a DEALER and send single-frame messages, so the ROUTER sees
``[conn_id, frame]``. Requests go to ``on_request(conn_id, frame)`` (on the
socket's thread: hand off quickly); replies and pushed watch events come back
through ``send(conn_id, frame)`` from any thread. Frames to a connection that has
gone away are dropped (counted), never blocking.

The socket's thread is an I/O thread of its own, or (``hosted``) the node's Store
actor: a request for a local read is then served, and the answer to a write applied
on this node sent, on the thread that received it, with no hand-off (the "I/O
thread" below is whichever it is).

What one connection can make the node hold is bounded (DESIGN section 7a):

- a request frame longer than ``max_frame`` is refused by ZeroMQ from its length
  header (``MAXMSGSIZE``): the connection is dropped and the frame never read whole;
- frames for a client that reads slower than it is written to: ZeroMQ queues
  ``SNDHWM`` of them (a count, not bytes, so it is kept small); the rest are held
  back here, in order, up to ``max_backlog_bytes``, and retried. Frames waiting
  for the I/O thread are capped the same way. Past a cap the frames held for that
  connection are dropped (counted) and ``on_overflow(conn_id)`` is called: the
  node ends the connection's watches with a resync event, so no event is ever
  skipped silently (DESIGN section 6), and the node's memory is not the client's.
  That resync is sent as a ``Kept`` frame, which no overflow drops.

``on_seen(conn_ids)`` hears, at most once per ``SEEN_REPORT_INTERVAL``, which
connections sent anything since the last report: a ROUTER never says which peer
went away, so the node tells a gone connection by its silence. For the same reason
the connections served at once are those heard from within ``connection_idle``: a
frame from a new one beyond ``max_connections`` is answered ``LimitExceeded`` here
and never reaches the node.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable

import zmq

from skylock.errors import LimitExceeded
from skylock.net import codec
from skylock.net.address import bound_address, tcp_endpoint
from skylock.net.curve import CLIENT_DOMAIN, KeyPair, serve_curve
from skylock.net.io_loop import NOBLOCK, IOLoop, IOService

log = logging.getLogger(__name__)

#: Per-connection queue inside ZeroMQ, in frames. ZeroMQ counts frames, not bytes, so
#: this times the largest reply (about ``server.max_data_size``) is what it may hold
#: for one slow reader: kept small, with the byte-capped backlog behind it.
SNDHWM = 32
#: frames queued per connection before the I/O thread picks them up
QUEUE_LIMIT = 10000
#: default of ``server.max_backlog_bytes``
MAX_BACKLOG_BYTES = 16 << 20
#: a held-back backlog is retried at once while it moves, else after RETRY_MS_MIN ms,
#: doubling up to RETRY_MS_MAX (a ROUTER cannot be polled for room towards one peer)
RETRY_MS_MIN = 1
RETRY_MS_MAX = 16
#: how often at most ``on_seen`` is called
SEEN_REPORT_INTERVAL = 1.0
#: ZeroMQ heartbeats: a peer that sends nothing, not even the PONG its ZeroMQ library
#: answers by itself, for ``HEARTBEAT_TIMEOUT_MS`` is disconnected and its queue freed
HEARTBEAT_IVL_MS = 10_000
HEARTBEAT_TIMEOUT_MS = 30_000
#: room above twice ``server.max_request_size`` for a frame's envelope (see ``frame_limit``)
ENVELOPE_HEADROOM = 64 << 10
#: a reply's two parts are sent with plain-int flags: ``send_multipart`` and pyzmq's enum
#: flags cost more than the sends themselves (2.2 us against 0.9 per reply)
_NOBLOCK_MORE = int(zmq.NOBLOCK | zmq.SNDMORE)


def frame_limit(max_request_size: int) -> int:
    """The longest frame read from a client. Up to it, a request over ``max_request_size``
    is read and answered ``TooLarge`` (the HTTP front end forwards bodies of up to twice
    the limit); a longer one costs the node nothing: ZeroMQ drops the connection."""
    return 2 * max_request_size + ENVELOPE_HEADROOM


class Kept(bytes):
    """A frame an overflow never drops: the resync events that announce one (at most one
    per watch, so they stay small)."""

    __slots__ = ()


class _Held:
    """Frames held back for one connection, oldest first, and their total size."""

    __slots__ = ("frames", "size")

    def __init__(self) -> None:
        self.frames: deque[bytes] = deque()
        self.size = 0

    def add(self, frames: Iterable[bytes]) -> None:
        for frame in frames:
            self.frames.append(frame)
            self.size += len(frame)


class _Connections:
    """The client connections served at once (I/O thread only): those heard from within
    ``idle`` seconds, at most ``limit`` of them (0: no limit)."""

    #: seconds between two sweeps for silent connections when a new one finds no room
    SWEEP_INTERVAL = 0.1

    def __init__(self, limit: int, idle: float) -> None:
        self.limit = limit
        self.idle = idle
        self._last_heard: dict[bytes, float] = {}
        self._next_sweep = 0.0

    def admit(self, conn_id: bytes, now: float) -> bool:
        """Whether a frame from ``conn_id`` is served; notes that it was heard from."""
        if self.limit and conn_id not in self._last_heard and len(self._last_heard) >= self.limit:
            self._sweep(now)
            if len(self._last_heard) >= self.limit:
                return False
        self._last_heard[conn_id] = now
        return True

    def live(self, now: float) -> int:
        """How many were heard from within ``idle``; safe from any thread (``dict.copy`` of
        bytes keys and float values is one step under the GIL)."""
        cutoff = now - self.idle
        return sum(1 for t in self._last_heard.copy().values() if t >= cutoff)

    def _sweep(self, now: float) -> None:
        """Forget connections silent for ``idle``: at most every ``SWEEP_INTERVAL``, so a
        flood of refused connections costs no full scan each."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.SWEEP_INTERVAL
        cutoff = now - self.idle
        self._last_heard = {c: t for c, t in self._last_heard.items() if t >= cutoff}


class ClientServer(IOService[bytes]):
    """Receives client frames and sends replies/events back by connection id."""

    def __init__(
        self,
        bind: str,
        on_request: Callable[[bytes, bytes], None],
        *,
        on_overflow: Callable[[bytes], None] | None = None,
        on_seen: Callable[[frozenset[bytes]], None] | None = None,
        context: zmq.Context | None = None,
        sndhwm: int = SNDHWM,
        max_frame: int = -1,
        max_backlog_bytes: int = MAX_BACKLOG_BYTES,
        max_connections: int = 0,
        connection_idle: float = 30.0,
        curve: KeyPair | None = None,
        hosted: bool = False,
    ) -> None:
        """``curve``: the node's key pair in secure mode; the socket is then a CURVE server
        that takes any client key (the token in each frame identifies the caller);
        ``hosted``: the socket is served by the actor that opens ``loop`` (the Store)."""
        super().__init__(
            f"client-io-{bind}",
            ("dropped_malformed", "dropped_unreachable", "overflows", "dropped_backlog",
             "refused_connections"),
            context=context,
            queue_limit=QUEUE_LIMIT,
            queue_bytes=max_backlog_bytes,
            hosted=hosted,
        )
        self._bind = bind
        self._on_request = on_request
        self._on_overflow = on_overflow
        self._on_seen = on_seen
        self._sndhwm = sndhwm
        self._max_frame = max_frame
        self._max_backlog_bytes = max_backlog_bytes
        self._curve = curve
        self._router: zmq.Socket | None = None
        # I/O thread only
        self._backlog: dict[bytes, _Held] = {}
        self._retry_ms = RETRY_MS_MIN
        self._seen: set[bytes] = set()
        self._next_report = 0.0
        self._connections = _Connections(max_connections, connection_idle)
        self._next_overflow_log = 0.0  # under the counters' lock: any thread may overflow

    def connections(self) -> int:
        """Client connections heard from within ``connection_idle`` (what ``max_connections``
        limits). Any thread: it counts a copy of the I/O thread's table, taken in one step."""
        return self._connections.live(time.monotonic())

    def send(self, conn_id: bytes, frame: bytes) -> None:
        """Queue a reply or event for a connection; thread-safe, never blocks. A connection
        whose frames pile up faster than the I/O thread takes them overflows here."""
        if self._io.post(conn_id, (frame,), force=isinstance(frame, Kept)):
            self._overflowed(conn_id, 1, len(frame))  # counted by the I/O thread as dropped_queue_full

    def _overflowed(self, conn_id: bytes, frames: int, size: int) -> None:
        """Any thread: frames for a connection were dropped. Count and log it (a client that
        never reads overflows again and again: at most one line a second), tell the node."""
        with self._counts_lock:
            self._counts["overflows"] += 1
            now = time.monotonic()
            loud = now >= self._next_overflow_log
            if loud:
                self._next_overflow_log = now + 1.0
        if loud:
            log.warning("connection %r reads too slowly: %d frame(s), %d bytes held for it, dropped",
                        conn_id[:16], frames, size)
        if self._on_overflow is not None:
            self._on_overflow(conn_id)

    # ------------------------------------------------------------------ I/O thread

    def _open(self, io: IOLoop[bytes]) -> None:
        router = io.socket(zmq.ROUTER)
        # mandatory: a full queue says EAGAIN (and an unknown peer EHOSTUNREACH) instead of
        # the ROUTER dropping the frame without a word
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        router.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a client reconnecting with its own id takes over
        router.setsockopt(zmq.SNDHWM, self._sndhwm)
        router.setsockopt(zmq.MAXMSGSIZE, self._max_frame)
        router.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        router.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        if self._curve is not None:
            serve_curve(router, self._curve, CLIENT_DOMAIN)
        router.bind(tcp_endpoint(self._bind))
        self._address = bound_address(router)
        self._router = router
        io.add_reader(router, self._on_message)

    def _deliver(self, conn_id: bytes, frames: list[bytes]) -> None:
        held = self._backlog.get(conn_id)
        if held is None:
            sent = self._send_until_full(conn_id, frames)
            if sent == len(frames):
                return
            held = self._backlog[conn_id] = _Held()
            frames = frames[sent:]
            self._retry_ms = RETRY_MS_MIN
        held.add(frames)  # behind what waits already: order is kept
        if held.size > self._max_backlog_bytes:
            self._overflow(conn_id, held)

    def _send_until_full(self, conn_id: bytes, frames: Iterable[bytes]) -> int:
        """Send in order until the connection's queue is full; how many frames left (sent,
        or dropped because the connection is gone)."""
        router = self._router
        assert router is not None
        done = sent = size = 0
        for frame in frames:
            try:
                router.send(conn_id, _NOBLOCK_MORE)  # a peer gone or full fails here, before the frame
                router.send(frame, NOBLOCK)
                sent += 1
                size += len(frame)
            except zmq.Again:
                break
            except zmq.ZMQError as exc:  # EHOSTUNREACH: the client is gone, drop
                self._count("dropped_unreachable")
                log.debug("reply to connection %r dropped: %s", conn_id[:16], exc)
            done += 1
        if sent:
            self.sent += sent
            self.bytes_sent += size
        return done

    def _overflow(self, conn_id: bytes, held: _Held) -> None:
        """Past the byte cap: drop what is held for the connection (counted, ``Kept`` frames
        excepted) and tell the node, which ends its watches loudly."""
        kept = _Held()
        kept.add(f for f in held.frames if isinstance(f, Kept))
        if kept.frames:
            self._backlog[conn_id] = kept
        else:
            del self._backlog[conn_id]
        dropped = len(held.frames) - len(kept.frames)
        self._count("dropped_backlog", dropped)
        self._overflowed(conn_id, dropped, held.size - kept.size)

    def _after_poll(self) -> None:
        now = time.monotonic()
        if self._backlog:
            self._retry_backlogs()
        self._report_seen(now)
        self._io.poll_timeout_ms = self._next_wake_ms(now)

    def _retry_backlogs(self) -> None:
        moved = False
        for conn_id, held in list(self._backlog.items()):
            done = self._send_until_full(conn_id, held.frames)
            for _ in range(done):
                held.size -= len(held.frames.popleft())
            moved = moved or done > 0
            if not held.frames:
                del self._backlog[conn_id]
        self._retry_ms = 0 if moved else min(max(RETRY_MS_MIN, 2 * self._retry_ms), RETRY_MS_MAX)

    def _report_seen(self, now: float) -> None:
        if self._seen and now >= self._next_report and self._on_seen is not None:
            seen, self._seen = frozenset(self._seen), set()
            self._next_report = now + SEEN_REPORT_INTERVAL
            self._on_seen(seen)

    def _next_wake_ms(self, now: float) -> int | None:
        """The poll timeout: soon while a backlog waits or connections seen wait to be reported."""
        waits = []
        if self._backlog:
            waits.append(self._retry_ms)
        if self._seen:
            waits.append(max(1, int((self._next_report - now) * 1000) + 1))
        return min(waits) if waits else None

    def _on_message(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            self._count("dropped_malformed")
            log.warning("dropped a client message of %d frames (want [conn_id, frame])", len(frames))
            return
        self.received += 1
        self.bytes_received += len(frames[1])
        if not self._connections.admit(frames[0], time.monotonic()):
            self._refuse_connection(frames[0], frames[1])
            return
        if self._on_seen is not None:
            self._seen.add(frames[0])
        self._on_request(frames[0], frames[1])

    def _refuse_connection(self, conn_id: bytes, frame: bytes) -> None:
        self._count("refused_connections")
        err = LimitExceeded(f"this node serves at most {self._connections.limit} client connections at once "
                            "(server.max_connections); try another node or later", limit="server.max_connections")
        try:
            assert self._router is not None
            self._router.send(conn_id, _NOBLOCK_MORE)
            self._router.send(codec.encode_error(codec.peek_id(frame), err), NOBLOCK)
        except zmq.ZMQError:
            pass  # its queue is full or it is gone: the refusal is only a courtesy
