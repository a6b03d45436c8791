"""The watch manager: a client's watches, routed from the connection that carries them
to the event thread, and moved to another server when theirs goes away.

The server pushes a watch's events to the socket that registered it, so each watch
belongs to one connection. Its events come in on that connection's I/O thread, which
only queues them for the client's event thread (skylock/client/events.py), where the
callbacks run. A watch remembers the last zxid it saw: when its server goes, it is
registered again elsewhere from that zxid, so the events in between are replayed, not
lost. The server cannot resume it (history compacted, or it refused): the callback
gets a ``resync`` event, meaning read again and watch again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from skylock.client.connection import Connection
from skylock.client.events import EventThread
from skylock.client.failover import Failover
from skylock.errors import SkyLockError

log = logging.getLogger("skylock.client")

#: At most this many server watch ids keep events that came before their registration's reply.
MAX_EARLY = 64


@dataclass(frozen=True)
class Event:
    """A watch event: ``type`` is created, deleted, data_changed, children_changed,
    session_closed, or resync (the server lost track: read again and re-watch)."""

    type: str
    path: str
    zxid: int
    child: str | None = None
    session_id: str | None = None

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> "Event":
        return cls(str(wire.get("type")), str(wire.get("path", "")), int(wire.get("zxid", 0)),
                   wire.get("child"), wire.get("session_id"))


WatchCallback = Callable[[Event], None]


@dataclass(slots=True)
class _Watch:
    path: str
    kind: str
    callback: WatchCallback
    last_zxid: int
    server_watch_id: int
    connection: Connection | None
    cancelled: bool = False


class WatchHandle:
    """What ``Client.watch`` returns. ``cancel()`` ends the watch here and on the server
    (a recursive watch otherwise lasts, across changes of server, until the client closes)."""

    __slots__ = ("_manager", "_watch")

    def __init__(self, manager: "WatchManager", watch: _Watch) -> None:
        self._manager = manager
        self._watch = watch

    @property
    def path(self) -> str:
        return self._watch.path

    @property
    def active(self) -> bool:
        return not self._watch.cancelled

    def cancel(self) -> None:
        """Stop delivering events; idempotent. No callback of this watch runs after it
        returns: called off the event thread, it waits for one under way to finish."""
        self._manager.cancel(self._watch)


class WatchManager:
    """The registry of one client's watches (a ``ConnectionObserver`` of its failover)."""

    def __init__(self, failover: Failover, events: EventThread, session_id: Callable[[], str | None]) -> None:
        self._failover = failover
        self._events = events
        self._session_id = session_id
        self._lock = threading.RLock()
        self._watches: dict[tuple[int, int], _Watch] = {}  # (id(connection), server watch id)
        self._early: dict[tuple[int, int], list[Event]] = {}  # events that arrived before their watch's reply
        self._homeless: list[_Watch] = []  # watches whose server went away, waiting for a new one
        self._mover: threading.Thread | None = None
        self._stop = threading.Event()  # set by close: the mover stops
        failover.observer = self

    # ---- registering --------------------------------------------------------------------------

    def watch(self, path: str, callback: WatchCallback, kind: str, from_zxid: int | None) -> WatchHandle:
        args = {"path": path, "kind": kind, "from_zxid": from_zxid, "session_id": self._session_id()}

        def register(conn: Connection, deadline: float) -> _Watch:
            result = self._failover.attempt(conn, "watch.add", args, deadline)
            start = from_zxid if from_zxid is not None else int(result["zxid"])
            watch = _Watch(path, kind, callback, start, 0, conn)
            self._remember(conn, int(result["watch_id"]), watch)
            return watch

        return WatchHandle(self, self._failover.failing_over("watch.add", register))

    def watched_read(self, op: str, path: str, kind: str, callback: WatchCallback, args: dict[str, Any]) -> Any:
        """``op`` (get, exists, children) that also registers a one-shot watch of ``kind``."""
        wire = {"path": path, "watch": True, "session_id": self._session_id(), **args}

        def read_and_watch(conn: Connection, deadline: float) -> Any:
            result = self._failover.attempt(conn, op, wire, deadline)
            self._remember(conn, int(result["watch_id"]), _Watch(path, kind, callback, int(result["zxid"]), 0, conn))
            return result

        return self._failover.failing_over(op, read_and_watch)

    def cancel(self, watch: _Watch) -> None:
        with self._lock:
            if watch.cancelled:
                return
            watch.cancelled = True  # a queued event of it is dropped at delivery
            registered = [k for k, w in self._watches.items() if w is watch]
            for key in registered:
                del self._watches[key]
            if watch in self._homeless:
                self._homeless.remove(watch)
            conn = watch.connection
        self._events.wait_while_running(watch)  # a callback under way finishes; none starts after
        if registered and conn is not None:
            self._forget_on_server(conn, watch.server_watch_id)

    @staticmethod
    def _forget_on_server(conn: Connection, server_watch_id: int) -> None:
        """Best effort, not awaited: a server that does not answer drops the watch with the connection."""
        conn.request("watch.remove", {"watch_id": server_watch_id})

    def _remember(self, conn: Connection, server_watch_id: int, watch: _Watch) -> None:
        """Start routing a registered watch's events, first those that beat its reply here
        (under the lock the I/O thread routes with, so they keep their order)."""
        watch.server_watch_id = server_watch_id
        key = (id(conn), server_watch_id)
        with self._lock:
            early = self._early.pop(key, [])
            if watch.cancelled:  # cancelled while it was being registered again elsewhere
                self._forget_on_server(conn, server_watch_id)
                return
            self._watches[key] = watch
            for event in early:
                if self._watches.get(key) is watch:  # a one-shot watch takes one
                    self._route_locked(key, watch, event)

    # ---- events -------------------------------------------------------------------------------

    def on_event(self, conn: Connection, server_watch_id: int, wire: dict[str, Any]) -> None:
        """On the connection's I/O thread: never blocks, never calls back; queues the
        event for the event thread."""
        event = Event.from_wire(wire)
        key = (id(conn), server_watch_id)
        with self._lock:
            watch = self._watches.get(key)
            if watch is None:
                # The server sends a replayed event (from_zxid) right after the reply that
                # registers the watch, so it can get here first: keep it for _remember.
                self._early.setdefault(key, []).append(event)
                while len(self._early) > MAX_EARLY:
                    self._early.pop(next(iter(self._early)))
                return
            self._route_locked(key, watch, event)

    def _route_locked(self, key: tuple[int, int], watch: _Watch, event: Event) -> None:
        watch.last_zxid = max(watch.last_zxid, event.zxid)
        if watch.kind != "recursive" or event.type in ("resync", "session_closed"):
            del self._watches[key]
        self._events.submit(self._deliver, watch, event, tag=watch)

    @staticmethod
    def _deliver(watch: _Watch, event: Event) -> None:
        """On the event thread."""
        if not watch.cancelled:
            watch.callback(event)

    # ---- changes of server --------------------------------------------------------------------

    def on_connected(self, conn: Connection) -> None:
        self._rewatch(conn)

    def _rewatch(self, conn: Connection) -> None:
        """After a change of server, register every live watch again from the last zxid
        it saw, so events that happened in between are replayed, not lost."""
        with self._lock:
            moved = [w for w in self._watches.values() if w.connection is not conn] + self._homeless
            self._watches = {k: w for k, w in self._watches.items() if w.connection is conn}
            self._homeless = []
        for watch in moved:
            args = {"path": watch.path, "kind": watch.kind, "from_zxid": watch.last_zxid,
                    "session_id": self._session_id()}

            def registered(future: Any, watch: _Watch = watch) -> None:
                try:
                    result = future.result()
                except SkyLockError as err:
                    if err.retryable:
                        self._rehome(watch)  # that server is gone or busy too: try the next one
                        return
                    self._events.submit(self._deliver, watch, Event("resync", watch.path, watch.last_zxid), tag=watch)
                    log.warning("watch on %s could not resume: %s", watch.path, err)
                    return
                watch.connection = conn
                self._remember(conn, int(result["watch_id"]), watch)

            conn.request("watch.add", args).add_done_callback(registered)

    def on_lost(self, conn: Connection) -> None:
        """The server went away (called on the connection's I/O thread). Its watches are
        gone with it — a restarted node remembers none — so move them now rather than at
        the next request, which a watch-only client may never make."""
        with self._lock:
            lost = [w for w in self._watches.values() if w.connection is conn]
            self._watches = {k: w for k, w in self._watches.items() if w.connection is not conn}
        for watch in lost:
            self._rehome(watch)

    def _rehome(self, watch: _Watch) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            watch.connection = None
            self._homeless.append(watch)
            if self._mover is not None and self._mover.is_alive():
                return
            self._mover = threading.Thread(target=self._move_watches, name="skylock-rewatch", daemon=True)
            self._mover.start()

    def _move_watches(self) -> None:
        """Find a live server for the homeless watches, cycling through the list."""
        failover = self._failover
        attempts = failover.retry.replace(tries=None, deadline=None).start()  # until they have a home
        while not self._stop.is_set():
            with self._lock:
                if not self._homeless:
                    return
            conn = None
            try:
                conn = failover.connection()  # a new connection registers the homeless watches
                failover.attempt(conn, "ping", {}, time.monotonic() + failover.attempt_timeout)
                with self._lock:
                    if self._homeless and failover.current is conn:
                        self._rewatch(conn)
            except SkyLockError:
                if conn is not None:
                    failover.drop(conn)  # unreachable: the next server on the next turn
            attempts.pause(self._stop)

    def close(self) -> None:
        """Stop moving watches (the client is closing)."""
        self._stop.set()
