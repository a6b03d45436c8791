"""Watch events derived from each applied change.

The state machine only *derives* events; delivering them to watchers is the
WatchHub's job. Every event carries the zxid of the entry that caused it so a
client can resume watching from a known point.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class EventType(str, Enum):
    CREATED = "created"
    DELETED = "deleted"
    DATA_CHANGED = "data_changed"
    #: ``path`` is the parent; ``child`` names the child added or removed.
    CHILDREN_CHANGED = "children_changed"
    #: ``session_id`` is set to the session's *public* id, ``path`` is "";
    #: ``reason`` is "closed" or "expired".
    SESSION_CLOSED = "session_closed"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: EventType
    path: str
    zxid: int
    child: str | None = None
    session_id: str | None = None
    reason: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"type": self.type.value, "path": self.path, "zxid": self.zxid}
        for key in ("child", "session_id", "reason"):
            value = getattr(self, key)
            if value is not None:
                wire[key] = value
        return wire

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> "WatchEvent":
        return cls(
            type=EventType(wire["type"]),
            path=wire["path"],
            zxid=wire["zxid"],
            child=wire.get("child"),
            session_id=wire.get("session_id"),
            reason=wire.get("reason"),
        )
