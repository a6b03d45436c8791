"""The WatchHub actor: watch registrations and the fan-out of events to clients.

Kinds, as in ZooKeeper: ``data`` (fires once on a change or delete of the node),
``exists`` (once on its creation, change or delete), ``children`` (once when a
child is added or removed, or the node is deleted) and ``recursive`` (persistent:
every create, change and delete at or below the path). Every event carries its
zxid. The hub keeps the most recent events so a client that reconnects can
resume from the last zxid it saw; asking for older history gets ``Compacted``.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from skylock.actors.base import NodeActor
from skylock.actors.messages import AddWatch, ConnectionOverflowed, HistoryReset, PublishEvents, RemoveWatch
from skylock.actors.outbox import Outbox
from skylock.errors import BadRequest, Compacted
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


class WatchHub(NodeActor):
    def __init__(self, node_id: int, outbox: Outbox, history_size: int, start_zxid: int) -> None:
        super().__init__(node_id)
        self.outbox = outbox
        self._regs: dict[int, Registration] = {}
        self._by_path: dict[str, set[int]] = defaultdict(set)
        self._recursive: set[int] = set()
        self._history: deque[WatchEvent] = deque(maxlen=history_size)
        #: Events with zxid <= this are not retained (before startup or trimmed).
        self._floor = start_zxid
        self.handlers = {
            AddWatch: self._on_add,
            RemoveWatch: self._on_remove,
            PublishEvents: self._on_publish,
            HistoryReset: self._on_history_reset,
            ConnectionOverflowed: self._on_overflow,
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
        after = msg.from_zxid if msg.from_zxid is not None else msg.current_zxid
        reg = Registration(msg.watch_id, msg.conn_id, msg.path, msg.kind, msg.session_id, after)
        if msg.reply is not None:
            self.outbox.ok(msg.reply, {"watch_id": msg.watch_id, "zxid": msg.current_zxid})
        if msg.from_zxid is not None:
            for event in self._history:
                if event.zxid > msg.from_zxid and self._matches(reg, event):
                    self._deliver(reg, event)
                    if reg.kind != "recursive":
                        return  # a one-shot watch fired while the client was away
        self._regs[reg.watch_id] = reg
        if reg.kind == "recursive":
            self._recursive.add(reg.watch_id)
        else:
            self._by_path[reg.path].add(reg.watch_id)

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
            self.outbox.event(reg.conn_id, reg.watch_id, {**resync, "path": reg.path})
            self._drop(reg.watch_id)

    def _on_overflow(self, msg: ConnectionOverflowed) -> None:
        """A client that cannot keep up would lose events: its watches end now with a
        resync event (reason ``overflow``), queued behind what it has not read yet."""
        zxid = self._history[-1].zxid if self._history else self._floor
        for reg in [r for r in self._regs.values() if r.conn_id == msg.conn_id]:
            self.outbox.event(reg.conn_id, reg.watch_id,
                              {"type": "resync", "path": reg.path, "zxid": zxid, "reason": "overflow"})
            self._drop(reg.watch_id)
        self.log.warning("node=%s connection %r overflowed: its watches ended with resync",
                         self.node_id, msg.conn_id[:16])

    def stats(self) -> dict[str, Any]:
        return {"watches": len(self._regs), "history": len(self._history), "floor": self._history_floor()}
