"""The per-node metadata a reader sees (ZooKeeper's ``Stat``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Stat:
    """Immutable view of a node's metadata at the time it was read.

    czxid/mzxid: zxid that created / last set the node; pzxid: zxid of the last
    child added or removed; version/cversion count data sets / child changes.
    """

    czxid: int
    mzxid: int
    pzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    ephemeral_owner: str
    data_length: int
    num_children: int

    def to_wire(self) -> dict[str, Any]:
        # on every write's reply: a plain dict comprehension, not dataclasses.asdict
        # (which deep-copies each field and costs about ten times as much)
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> "Stat":
        return cls(**{f.name: wire[f.name] for f in fields(cls)})


_FIELDS = tuple(f.name for f in fields(Stat))
