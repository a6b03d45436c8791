"""The per-node metadata a reader sees (ZooKeeper's ``Stat``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
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
        return asdict(self)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> "Stat":
        return cls(**{f.name: wire[f.name] for f in fields(cls)})
