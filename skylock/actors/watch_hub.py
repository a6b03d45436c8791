"""The WatchHub actor: watch registrations and the fan-out of events to clients.

Kinds, as in ZooKeeper: ``data`` (fires once on a change or delete of the node),
``exists`` (once on its creation, change or delete), ``children`` (once when a
child is added or removed, or the node is deleted) and ``recursive`` (persistent:
every create, change and delete at or below the path). Every event carries its
zxid. The hub keeps the most recent events so a client that reconnects can
resume from the last zxid it saw; asking for older history gets ``Compacted``.

Watches cost the node memory and every event a scan, so they are bounded: per
connection and in total (``LimitExceeded``). They belong to the connection that
set them, and a ROUTER never says when a peer is gone, so a connection silent
for longer than ``idle_timeout`` (clients ping, see docs/PROTOCOL.md) is taken
for gone: its watches end with a resync event (reason ``idle``), which a live
but silent client still sees.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from skylock.actors.base import NodeActor
from skylock.actors.messages import (
    AddWatch,
    ConnectionOverflowed,
    ConnectionsSeen,
    HistoryReset,
    PublishEvents,
    RemoveWatch,
    SweepWatches,
)
from skylock.actors.outbox import Outbox
from skylock.errors import BadRequest, Compacted, LimitExceeded
from skylock.state import EventType, WatchEvent

KINDS = ("data", "exists", "children", "recursive")

#: Which event types fire a watch of each one-shot kind on its own path.
_FIRES_ON_PATH = {
    "data": {EventType.DATA_CHANGED, EventType.DELETED},
    "exists": {EventType.CREATED, EventType.DATA_CHANGED, EventType.DELETED},
    "children": {EventType.CHILDREN_CHANGED, EventType.DELETED},
}


@dataclass(slots=True)
class Registration:
    watch_id: int
    conn_id: bytes
    path: str
    kind: str
    session_id: str | None
    #: events at or below this zxid are already known to the client (it resumed from
    #: there, possibly on a node that still lags behind it): never deliver them again
    after_zxid: int = 0


def _is_under(path: str, root: str) -> bool:
    return path == root or root == "/" or path.startswith(root + "/")


@dataclass(frozen=True)
class WatchLimits:
    per_connection: int = 10000
    total: int = 100000
    #: seconds a connection holding watches may stay silent
    idle_timeout: float = 30.0


class WatchHub(NodeActor):
    def __init__(
        self, node_id: int, outbox: Outbox, history_size: int, start_zxid: int,
        limits: WatchLimits = WatchLimits(), clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(node_id)
        self.outbox = outbox
        self.limits = limits
        self._clock = clock
        self._regs: dict[int, Registration] = {}
        self._by_path: dict[str, set[int]] = defaultdict(set)
        self._recursive: set[int] = set()
        self._by_conn: dict[bytes, set[int]] = {}
        #: when each connection holding watches was last heard from
        self._last_seen: dict[bytes, float] = {}
        self._history: deque[WatchEvent] = deque(maxlen=history_size)
        #: Events with zxid <= this are not retained (before startup or trimmed).
        self._floor = start_zxid
        self.handlers = {
            AddWatch: self._on_add,
            RemoveWatch: self._on_remove,
            PublishEvents: self._on_publish,
            HistoryReset: self._on_history_reset,
            ConnectionOverflowed: self._on_overflow,
            ConnectionsSeen: self._on_seen,
            SweepWatches: self._on_sweep,
        }

    # ---- registration ---------------------------------------------------------------

    def _on_add(self, msg: AddWatch) -> None:
        if msg.kind not in KINDS:
            self._refuse(msg, BadRequest(f"watch kind must be one of {', '.join(KINDS)}, got {msg.kind!r}"))
            return
        if msg.from_zxid is not None and msg.from_zxid < self._history_floor():
            self._refuse(msg, Compacted(
                f"events after zxid {msg.from_zxid} are no longer retained; resync from a fresh read",
                oldest_zxid=self._history_floor(),
            ))
            return
        over = self._over_limit(msg.conn_id)
        if over is not None:
            self._refuse(msg, over)
            return
        after = msg.from_zxid if msg.from_zxid is not None else msg.current_zxid
        reg = Registration(msg.watch_id, msg.conn_id, msg.path, msg.kind, msg.session_id, after)
        if msg.reply is not None:
            self.outbox.ok(msg.reply, msg.result or {"watch_id": msg.watch_id, "zxid": msg.current_zxid})
        if msg.from_zxid is not None:
            for event in self._history:
                if event.zxid > msg.from_zxid and self._matches(reg, event):
                    self._deliver(reg, event)
                    if reg.kind != "recursive":
                        return  # a one-shot watch fired while the client was away
        self._register(reg)

    def _register(self, reg: Registration) -> None:
        self._regs[reg.watch_id] = reg
        self._by_conn.setdefault(reg.conn_id, set()).add(reg.watch_id)
        self._last_seen[reg.conn_id] = self._clock()  # the request that set it was just heard
        if reg.kind == "recursive":
            self._recursive.add(reg.watch_id)
        else:
            self._by_path[reg.path].add(reg.watch_id)

    def _over_limit(self, conn_id: bytes) -> LimitExceeded | None:
        held = len(self._by_conn.get(conn_id, ()))
        if held >= self.limits.per_connection:
            return LimitExceeded(
                f"this connection holds {held} watches, the limit (server.max_watches_per_connection); "
                "remove some first", limit="server.max_watches_per_connection")
        if len(self._regs) >= self.limits.total:
            return LimitExceeded(
                f"this node holds {len(self._regs)} watches, the limit (server.max_watches); "
                "try another node or later", limit="server.max_watches")
        return None

    def _refuse(self, msg: AddWatch, err: Exception) -> None:
        if msg.reply is not None:
            self.outbox.error(msg.reply, err)  # type: ignore[arg-type]

    def _history_floor(self) -> int:
        if len(self._history) == self._history.maxlen and self._history:
            return self._history[0].zxid - 1
        return self._floor

    def _on_remove(self, msg: RemoveWatch) -> None:
        removed = self._drop(msg.watch_id)
        if msg.reply is not None:
            self.outbox.ok(msg.reply, {"removed": removed})

    def _drop(self, watch_id: int) -> bool:
        reg = self._regs.pop(watch_id, None)
        if reg is None:
            return False
        if reg.kind == "recursive":
            self._recursive.discard(watch_id)
        else:
            ids = self._by_path.get(reg.path)
            if ids is not None:
                ids.discard(watch_id)
                if not ids:
                    del self._by_path[reg.path]
        mine = self._by_conn.get(reg.conn_id)
        if mine is not None:
            mine.discard(watch_id)
            if not mine:
                del self._by_conn[reg.conn_id]
                self._last_seen.pop(reg.conn_id, None)
        return True

    # ---- events ---------------------------------------------------------------------------

    def _on_publish(self, msg: PublishEvents) -> None:
        for event in msg.events:
            self._history.append(event)
            if event.type == EventType.SESSION_CLOSED:
                self._close_session(event)
                continue
            for watch_id in list(self._by_path.get(event.path, ())):
                reg = self._regs[watch_id]
                if self._matches(reg, event):
                    self._deliver(reg, event)
                    self._drop(watch_id)
            for watch_id in self._recursive:
                reg = self._regs[watch_id]
                if self._matches(reg, event):
                    self._deliver(reg, event)

    def _close_session(self, event: WatchEvent) -> None:
        """Watches registered by a session end with it; its client is told once."""
        told: set[bytes] = set()
        for reg in [r for r in self._regs.values() if r.session_id == event.session_id]:
            if reg.conn_id not in told:
                self._deliver(reg, event)
                told.add(reg.conn_id)
            self._drop(reg.watch_id)

    @staticmethod
    def _matches(reg: Registration, event: WatchEvent) -> bool:
        if event.zxid <= reg.after_zxid:
            return False
        if reg.kind == "recursive":
            return event.type != EventType.CHILDREN_CHANGED and _is_under(event.path, reg.path)
        return event.path == reg.path and event.type in _FIRES_ON_PATH[reg.kind]

    def _deliver(self, reg: Registration, event: WatchEvent) -> None:
        self.outbox.event(reg.conn_id, reg.watch_id, event.to_wire())

    def _on_history_reset(self, msg: HistoryReset) -> None:
        """This node jumped to a snapshot: the events in between are unknown here, so
        every watch ends loudly with a resync event instead of missing them silently."""
        self._history.clear()
        self._floor = msg.zxid
        resync = {"type": "resync", "path": "", "zxid": msg.zxid}
        for reg in list(self._regs.values()):
            self.outbox.event(reg.conn_id, reg.watch_id, {**resync, "path": reg.path}, keep=True)
            self._drop(reg.watch_id)

    def _on_overflow(self, msg: ConnectionOverflowed) -> None:
        """A client that could not keep up lost frames: its watches end now with a
        resync event (reason ``overflow``), queued behind what it has not read yet."""
        ended = self._end_connection(msg.conn_id, "overflow")
        if ended:
            self.log.warning("node=%s connection %r overflowed: its %d watch(es) ended with resync",
                             self.node_id, msg.conn_id[:16], ended)

    def _on_seen(self, msg: ConnectionsSeen) -> None:
        now = self._clock()
        for conn_id in msg.conn_ids:
            if conn_id in self._last_seen:
                self._last_seen[conn_id] = now

    def _on_sweep(self, _msg: SweepWatches) -> None:
        """Connections silent past the idle limit are taken for gone: their watches end."""
        cutoff = self._clock() - self.limits.idle_timeout
        for conn_id in [c for c, seen in self._last_seen.items() if seen < cutoff]:
            self._last_seen.pop(conn_id)
            ended = self._end_connection(conn_id, "idle")
            self.log.info("node=%s connection %r silent for over %gs: its %d watch(es) ended",
                          self.node_id, conn_id[:16], self.limits.idle_timeout, ended)

    def _end_connection(self, conn_id: bytes, reason: str) -> int:
        """End every watch of a connection with a resync event giving ``reason``."""
        zxid = self._history[-1].zxid if self._history else self._floor
        ids = sorted(self._by_conn.get(conn_id, ()))
        for watch_id in ids:
            reg = self._regs[watch_id]
            resync = {"type": "resync", "path": reg.path, "zxid": zxid, "reason": reason}
            self.outbox.event(conn_id, watch_id, resync, keep=True)
            self._drop(watch_id)
        return len(ids)

    def stats(self) -> dict[str, Any]:
        return {"watches": len(self._regs), "connections": len(self._by_conn), "history": len(self._history),
                "floor": self._history_floor()}
