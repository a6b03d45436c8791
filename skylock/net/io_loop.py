"""One thread that alone owns a group of ZeroMQ sockets.

ZeroMQ sockets are not thread-safe, so every socket of a transport lives in one
thread. Other threads never touch them: they append frames to a per-destination
outbox and, at most once per batch, signal a wake-up descriptor (``skylock.net.wakeup``)
that the owner polls together with its readable sockets. Each wake-up drains the whole outbox.
The owner is an I/O thread of the transport's own (``IOThread``: the client server,
the client's connections), or the actor that is the transport's only user, serving
the sockets between its messages (the peer transport, hosted by RaftNode), so that
what it sends and receives needs no hand-off to another thread.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

import zmq

from skylock.net.wakeup import Wakeup

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

#: messages read from one socket before the thread looks at the others again (fairness)
RECV_BUDGET = 1000

#: pyzmq's constants are enum members, and every operation on them (``events & POLLIN``)
#: builds a new one in Python; the loop reads every message with these plain ints instead
NOBLOCK = int(zmq.NOBLOCK)
_EVENTS, _POLLIN, _RCVMORE = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.RCVMORE)


def recv_message(sock: zmq.Socket, flags: int = 0, *, copy: bool = True) -> list[Any]:
    """One whole multipart message, as ``recv_multipart`` (flags apply to its first part;
    the rest is there already), at a sixth of its cost: plain-int flags and options."""
    message = [sock.recv(flags, copy=copy)]
    while sock.getsockopt(_RCVMORE):
        message.append(sock.recv(NOBLOCK, copy=copy))
    return message


class IOLoop(Generic[K]):
    """A group of sockets and the loop step that serves them, on one owner thread.

    ``setup(io)`` runs on the owner thread; it creates sockets with ``io.socket`` and
    registers readers with ``io.add_reader``. ``deliver(key, frames)`` runs on the owner
    thread for every batch posted to ``key``; it must send without blocking. Reader
    callbacks get one multipart message (a list of frames) at a time: bytes, or
    ``zmq.Frame`` objects for a reader added with ``copy=False`` (they carry the
    connection's metadata, e.g. the ``User-Id`` its ZAP handler gave it).

    The owner is either an ``IOThread`` (a thread of its own) or an actor that serves the
    sockets between its messages (``skylock.actors.socket_inbox``). With ``direct``, a
    post made on the owner thread is sent at once instead of waiting for the next loop step.
    """

    def __init__(
        self,
        name: str,
        setup: Callable[[IOLoop[K]], None],
        deliver: Callable[[K, list[bytes]], None],
        *,
        context: zmq.Context | None = None,
        queue_limit: int = 10000,
        queue_bytes: int | None = None,
        after_poll: Callable[[], None] | None = None,
        direct: bool = False,
    ) -> None:
        self.name = name
        self._setup = setup
        self._deliver = deliver
        self._after_poll = after_poll
        self._direct = direct
        #: set on the owner thread by a service with work to retry (e.g. a backlog): the
        #: loop then wakes at least this often and calls ``after_poll``
        self.poll_timeout_ms: int | None = None
        self._own_context = context is None
        self._context = context if context is not None else zmq.Context()
        self._queue_limit = queue_limit
        #: bytes queued per key at most (None: no bound), so a producer faster than this
        #: thread cannot pile up memory between two of its wake-ups
        self._queue_bytes = queue_bytes
        self._lock = threading.Lock()
        self._outbox: dict[K, list[bytes]] = {}
        self._outbox_bytes: dict[K, int] = {}
        self._wake_pending = False
        #: set while the loop is open; signalled under ``_lock`` only, so never after close
        self._wakeup: Wakeup | None = None
        self._poller: zmq.Poller | None = None
        self._owner: int | None = None
        #: setup ran: a direct post can be sent at once
        self._set_up = False
        self._stopping = False
        self._sockets: list[zmq.Socket] = []
        self._readers: dict[zmq.Socket, tuple[Callable[[list], None], bool]] = {}
        self.dropped_full = 0
        #: None while the owner waits in ``poll``; otherwise when it last came out of it:
        #: frames that arrived since may not have been read (see ``heard_until``)
        self._busy_since: float | None = None

    # ------------------------------------------------------------------ for setup()

    @property
    def context(self) -> zmq.Context:
        return self._context

    def socket(self, kind: int) -> zmq.Socket:
        """A socket owned by this loop, closed with linger 0 when it closes."""
        sock = self._context.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        self._sockets.append(sock)
        return sock

    def add_reader(self, sock: zmq.Socket, on_message: Callable[[list], None], *, copy: bool = True) -> None:
        """Call ``on_message`` with each message read from ``sock``; ``copy=False`` hands it
        ``zmq.Frame`` objects instead of bytes, for a reader that needs frame metadata
        (opt-in: a Frame costs more than bytes for small messages)."""
        self._readers[sock] = (on_message, copy)
        if self._poller is not None:
            self._poller.register(sock, zmq.POLLIN)

    # ------------------------------------------------------------------ any thread

    def post(self, key: K, frames: Iterable[bytes], *, force: bool = False) -> int:
        """Queue frames for ``key``; returns how many were dropped because its queue was
        full (in frames or bytes). ``force`` queues them regardless."""
        if self._direct and self._set_up and self._owner == threading.get_ident() and not self._stopping:
            batch = list(frames)
            if batch:
                self._send(key, batch)
            return 0
        with self._lock:
            batch = list(frames)
            if self._stopping or not batch:
                return 0
            queue = self._outbox.setdefault(key, [])
            size = self._outbox_bytes.get(key, 0)
            fits = len(batch) if force else self._fitting(batch, len(queue), size)
            dropped = len(batch) - fits
            if dropped:
                batch = batch[:fits]
                self.dropped_full += dropped
            if batch:
                queue.extend(batch)
                self._outbox_bytes[key] = size + sum(len(frame) for frame in batch)
                if not self._wake_pending:
                    self._poke_locked()
            return dropped

    def heard_until(self, now: float) -> float:
        """Any thread: a time before which the frames that reached the sockets have been
        read and handed to the readers: ``now`` while the owner waits in ``poll`` (it reads
        what arrives at once), else when it last left ``poll`` (it is doing other work: an
        actor hosting the loop handles its messages between polls)."""
        busy_since = self._busy_since  # one read: the owner sets it in one step
        return now if busy_since is None else min(now, busy_since)

    def wake(self) -> None:
        """Make the owner's current or next ``poll_once`` return (no-op on the owner thread)."""
        if self._owner == threading.get_ident():
            return
        with self._lock:
            if not self._wake_pending:
                self._poke_locked()

    def _fitting(self, batch: list[bytes], queued: int, size: int) -> int:
        """How many frames of ``batch`` fit behind ``queued`` frames of ``size`` bytes."""
        fits = max(0, min(len(batch), self._queue_limit - queued))
        if self._queue_bytes is None:
            return fits
        for i in range(fits):
            size += len(batch[i])
            if size > self._queue_bytes:
                return i
        return fits

    def _poke_locked(self) -> None:
        """Wake the owner (caller holds the lock, so ``close`` cannot run meanwhile)."""
        if self._wakeup is None:
            return  # not open yet (the first loop step drains) or already closed
        self._wake_pending = True
        self._wakeup.signal()

    # ------------------------------------------------------------------ owner thread

    def open(self) -> None:
        """Make the calling thread the owner and open the wake-up descriptor (setup comes apart)."""
        self._owner = threading.get_ident()
        wakeup = Wakeup()
        self._poller = zmq.Poller()
        self._poller.register(wakeup.fileno, zmq.POLLIN)
        for sock in self._readers:
            self._poller.register(sock, zmq.POLLIN)
        with self._lock:
            self._wakeup = wakeup
            if self._outbox or self._stopping:
                self._poke_locked()  # posted before the loop was open

    def setup(self) -> None:
        """Run the service's ``setup`` (bind, connect, add readers); raises what it raises."""
        self._setup(self)
        self._set_up = True

    def poll_once(self, timeout_ms: int | None) -> bool:
        """Wait up to ``timeout_ms`` (None: until something happens), read what arrived and send
        what was posted. False once the loop is asked to stop."""
        assert self._poller is not None and self._wakeup is not None, f"{self.name} is not open"
        self._busy_since = None
        events = dict(self._poller.poll(timeout_ms))
        self._busy_since = time.monotonic()
        if self._wakeup.fileno in events:
            self._wakeup.drain()
        for sock, (on_message, copy) in list(self._readers.items()):
            if sock in events:
                self._read(sock, on_message, copy)
        with self._lock:
            if self._stopping:
                return False
            outbox, self._outbox = self._outbox, {}
            self._outbox_bytes = {}
            self._wake_pending = False
        for key, frames in outbox.items():
            self._send(key, frames)
        if self._after_poll is not None:
            try:
                self._after_poll()
            except Exception:
                log.exception("%s: after_poll failed", self.name)
        return True

    def request_stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._poke_locked()

    def close(self) -> None:
        """On the owner thread: close every socket (linger 0); queued frames are lost."""
        with self._lock:
            wakeup, self._wakeup = self._wakeup, None
            self._stopping = True
        if wakeup is not None:
            wakeup.close()
        for sock in self._sockets:
            sock.close(linger=0)
        self._sockets.clear()
        self._readers.clear()
        self._poller = None
        if self._own_context:
            self._context.term()

    def _send(self, key: K, frames: list[bytes]) -> None:
        try:
            self._deliver(key, frames)
        except Exception:
            log.exception("%s: delivering %d frame(s) to %r failed", self.name, len(frames), key)

    def _read(self, sock: zmq.Socket, on_message: Callable[[list], None], copy: bool) -> None:
        """Read what ``sock`` holds (it polled readable), up to the budget. Between two
        messages it asks the socket whether another is there rather than reading on until
        ``Again``: an exception per wake-up costs more than the question."""
        for _ in range(RECV_BUDGET):
            try:
                message = recv_message(sock, NOBLOCK, copy=copy)
            except zmq.Again:
                return
            try:
                on_message(message)
            except Exception:
                log.exception("%s: handler failed on a %d-frame message", self.name, len(message))
            # ZMQ_EVENTS is an int (pyzmq's stubs say int | bytes | str): no conversion per message
            if not sock.getsockopt(_EVENTS) & _POLLIN:  # type: ignore[operator]
                return


class IOThread(IOLoop[K]):
    """An ``IOLoop`` served by a dedicated thread of its own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._setup_error: BaseException | None = None

    def start(self) -> None:
        """Start the thread; re-raises whatever ``setup`` raised (e.g. address in use)."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} already started")
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._setup_error is not None:
            self._thread.join()
            raise self._setup_error

    def stop(self) -> None:
        """Ask the thread to exit and wait for it; queued frames are discarded."""
        self.request_stop()
        thread = self._thread
        if thread is None:
            if self._own_context:
                self._context.term()
        elif thread is not threading.current_thread():
            thread.join()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        try:
            self.open()
            self.setup()
        except BaseException as exc:  # noqa: BLE001 - handed to start()
            self._setup_error = exc
            self.close()
            self._ready.set()
            return
        self._ready.set()
        try:
            while self.poll_once(self.poll_timeout_ms):
                pass
        except zmq.ContextTerminated:
            log.info("%s: context terminated, I/O thread exits", self.name)
        except Exception:
            log.exception("%s: I/O thread failed", self.name)
        finally:
            self.close()


class IOService(ABC, Generic[K]):
    """Base of a transport whose sockets all live on one thread: an ``IOThread`` of its own,
    or (``hosted``) whoever opens and serves ``loop`` (see ``skylock.actors.socket_inbox``).

    Gives subclasses start/stop, the bound address and thread-safe counters, so each
    transport only says which sockets it opens (``_open``) and how it sends (``_deliver``).
    """

    def __init__(
        self, name: str, counters: Iterable[str], *, context: zmq.Context | None, queue_limit: int,
        queue_bytes: int | None = None, hosted: bool = False,
    ) -> None:
        self._address: str | None = None
        self._counts_lock = threading.Lock()
        self._counts = dict.fromkeys(counters, 0)
        #: messages and payload bytes read and written: the I/O thread's alone (plain ints, no
        #: lock, as they change with every message; a reader from another thread sees a value a
        #: moment old)
        self.received = 0
        self.sent = 0
        self.bytes_received = 0
        self.bytes_sent = 0
        self._hosted = hosted
        kind = IOLoop if hosted else IOThread
        self._io: IOLoop[K] = kind(name, self._open, self._deliver, context=context, queue_limit=queue_limit,
                                   queue_bytes=queue_bytes, after_poll=self._after_poll, direct=hosted)

    @property
    def loop(self) -> IOLoop[K]:
        """The sockets' loop, for the owner of a ``hosted`` transport to open and serve."""
        return self._io

    def start(self) -> None:
        """Bind, connect and start the I/O thread; raises if an address cannot be bound.
        A hosted transport is started by its host (``loop.open``, ``loop.setup``)."""
        if not self._hosted:
            assert isinstance(self._io, IOThread)
            self._io.start()

    def stop(self) -> None:
        """Stop the I/O thread and close every socket (linger 0): queued frames are lost. Idempotent.
        A hosted transport's sockets are closed by its host (it may still be sending)."""
        if isinstance(self._io, IOThread):
            self._io.stop()

    @property
    def address(self) -> str:
        """The "host:port" actually bound (after start), so binding port 0 is usable."""
        if self._address is None:
            raise RuntimeError(f"{self._io.name} not started")
        return self._address

    def stats(self) -> dict[str, int]:
        with self._counts_lock:
            counts = {**self._counts, "dropped_queue_full": self._io.dropped_full}
        return {**counts, "received": self.received, "sent": self.sent,
                "bytes_received": self.bytes_received, "bytes_sent": self.bytes_sent}

    def _count(self, name: str, n: int = 1) -> None:
        with self._counts_lock:
            self._counts[name] += n

    @abstractmethod
    def _open(self, io: IOLoop[K]) -> None:
        """On the I/O thread: create, bind/connect and register this service's sockets."""

    @abstractmethod
    def _deliver(self, key: K, frames: list[bytes]) -> None:
        """On the I/O thread: send the frames queued for ``key`` without blocking."""

    def _after_poll(self) -> None:
        """On the I/O thread, after every wake-up: retry what could not be sent (default: nothing)."""
