"""The data tree: nodes, their Stat bookkeeping, and the events each change causes.

Nodes live in one flat dict keyed by path, so any lookup is O(1) and a change
touches only the node and its parent (apply stays O(depth), which is the cost
of validating the path). Each node keeps its children's names; ephemeral nodes
are also indexed by owning session so that closing a session needs no scan.
Every mutation records its inverse in the transaction's undo log. Derived views
that must stay in step with the nodes (the lock queues) are ``TreeIndex`` objects
the tree tells of every node it adds or removes, undo and restore included.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Protocol, TypeVar

from skylock.errors import BadRequest, BadVersion, NoChildrenForEphemerals, NodeExists, NoNode, NotEmpty

from .events import EventType, WatchEvent
from .journal import Txn
from .paths import ROOT, split_path
from .stat import Stat

#: Width of the counter appended to sequential node names.
SEQUENCE_DIGITS = 10


class Node:
    """One znode. ``seq`` is the parent-side counter for sequential children."""

    __slots__ = (
        "data", "czxid", "mzxid", "pzxid", "ctime", "mtime",
        "version", "cversion", "ephemeral_owner", "seq", "children",
    )

    def __init__(self, data: bytes, zxid: int, now_ms: int, ephemeral_owner: str) -> None:
        self.data = data
        self.czxid = self.mzxid = self.pzxid = zxid
        self.ctime = self.mtime = now_ms
        self.version = 0
        self.cversion = 0
        self.ephemeral_owner = ephemeral_owner
        self.seq = 0
        self.children: set[str] = set()

    def stat(self) -> Stat:
        return Stat(
            czxid=self.czxid, mzxid=self.mzxid, pzxid=self.pzxid,
            ctime=self.ctime, mtime=self.mtime,
            version=self.version, cversion=self.cversion,
            ephemeral_owner=self.ephemeral_owner,
            data_length=len(self.data), num_children=len(self.children),
        )


class TreeIndex(Protocol):
    """A view derived from the nodes, told of each node added or removed so that it never
    needs a scan. It reads only the path and node it is told of: during a restore the rest
    of the tree is still being linked. The root is never added or removed, nor reported."""

    def added(self, path: str, node: Node) -> None: ...

    def removed(self, path: str, node: Node) -> None: ...


IndexT = TypeVar("IndexT", bound=TreeIndex)


class DataTree:
    def __init__(self, indexes: Iterable[TreeIndex] = ()) -> None:
        self.nodes: dict[str, Node] = {ROOT: Node(b"", 0, 0, "")}
        self._indexes = tuple(indexes)
        self._index_by_type: dict[type, TreeIndex] = {type(index): index for index in self._indexes}
        self._ephemerals: dict[str, set[str]] = {}
        #: bytes of data in all nodes, and how many nodes are ephemeral: kept as nodes change
        #: (and undone with them), so a monitor reads them without a walk over the tree
        self.data_bytes = 0
        self.ephemeral_count = 0

    # ---- reads -------------------------------------------------------------

    def node(self, path: str) -> Node | None:
        return self.nodes.get(path)

    def require(self, path: str) -> Node:
        node = self.nodes.get(path)
        if node is None:
            raise NoNode(f"no node at {path}", path=path)
        return node

    def ephemerals_of(self, session_id: str) -> list[str]:
        """Paths of the session's ephemeral nodes, sorted."""
        return sorted(self._ephemerals.get(session_id, ()))

    def index(self, kind: type[IndexT]) -> IndexT:
        """The index of type ``kind`` this tree was made with."""
        return self._index_by_type[kind]  # type: ignore[return-value]

    def __iter__(self) -> Iterator[tuple[str, Node]]:
        return iter(self.nodes.items())

    # ---- writes ------------------------------------------------------------

    def create(
        self, txn: Txn, path: str, data: bytes, *, ephemeral_owner: str = "", sequential: bool = False
    ) -> tuple[str, Node]:
        """Create a node; for a sequential one ``path`` is the prefix. Returns (real path, node)."""
        parent_path, name = split_path(path + "0" * SEQUENCE_DIGITS if sequential else path)
        parent = self.nodes.get(parent_path)
        if parent is None:
            raise NoNode(f"parent {parent_path} does not exist", path=parent_path)
        if parent.ephemeral_owner:
            raise NoChildrenForEphemerals(f"{parent_path} is ephemeral and cannot have children", path=parent_path)
        old_seq = parent.seq
        if sequential:
            path = f"{path}{old_seq:0{SEQUENCE_DIGITS}d}"
            name = split_path(path)[1]
        if path in self.nodes:
            raise NodeExists(f"node {path} already exists", path=path)

        node = Node(data, txn.zxid, txn.now_ms, ephemeral_owner)
        old_cversion, old_pzxid = parent.cversion, parent.pzxid
        self.nodes[path] = node
        parent.children.add(name)
        parent.cversion += 1
        parent.pzxid = txn.zxid
        if sequential:
            parent.seq = old_seq + 1
        self.data_bytes += len(data)
        if ephemeral_owner:
            self._ephemerals.setdefault(ephemeral_owner, set()).add(path)
            self.ephemeral_count += 1
        self._added(path, node)

        def undo() -> None:
            del self.nodes[path]
            parent.children.discard(name)
            parent.cversion, parent.pzxid, parent.seq = old_cversion, old_pzxid, old_seq
            self.data_bytes -= len(data)
            if ephemeral_owner:
                self._forget_ephemeral(ephemeral_owner, path)
            self._removed(path, node)

        txn.undo.record(undo)
        txn.events.append(WatchEvent(EventType.CREATED, path, txn.zxid))
        txn.events.append(WatchEvent(EventType.CHILDREN_CHANGED, parent_path, txn.zxid, child=name))
        return path, node

    def set_data(self, txn: Txn, path: str, data: bytes, version: int) -> Node:
        node = self.require(path)
        self._check_version(node, path, version)
        old = (node.data, node.version, node.mzxid, node.mtime)
        growth = len(data) - len(node.data)
        node.data = data
        node.version += 1
        node.mzxid = txn.zxid
        node.mtime = txn.now_ms
        self.data_bytes += growth

        def undo() -> None:
            node.data, node.version, node.mzxid, node.mtime = old
            self.data_bytes -= growth

        txn.undo.record(undo)
        txn.events.append(WatchEvent(EventType.DATA_CHANGED, path, txn.zxid))
        return node

    def delete(self, txn: Txn, path: str, version: int = -1) -> None:
        if path == ROOT:
            raise BadRequest("the root node cannot be deleted", path=path)
        node = self.require(path)
        self._check_version(node, path, version)
        if node.children:
            raise NotEmpty(f"{path} has {len(node.children)} children", path=path)
        parent_path, name = split_path(path)
        parent = self.nodes[parent_path]
        old_cversion, old_pzxid = parent.cversion, parent.pzxid
        del self.nodes[path]
        parent.children.discard(name)
        parent.cversion += 1
        parent.pzxid = txn.zxid
        owner = node.ephemeral_owner
        self.data_bytes -= len(node.data)
        if owner:
            self._forget_ephemeral(owner, path)
        self._removed(path, node)

        def undo() -> None:
            self.nodes[path] = node
            parent.children.add(name)
            parent.cversion, parent.pzxid = old_cversion, old_pzxid
            self.data_bytes += len(node.data)
            if owner:
                self._ephemerals.setdefault(owner, set()).add(path)
                self.ephemeral_count += 1
            self._added(path, node)

        txn.undo.record(undo)
        txn.events.append(WatchEvent(EventType.DELETED, path, txn.zxid))
        txn.events.append(WatchEvent(EventType.CHILDREN_CHANGED, parent_path, txn.zxid, child=name))

    def check(self, path: str, version: int) -> Node:
        node = self.require(path)
        self._check_version(node, path, version)
        return node

    # ---- snapshot support --------------------------------------------------

    def insert_restored(self, path: str, node: Node) -> None:
        """Place a node read from a snapshot; call ``link_restored`` once all are in."""
        self.nodes[path] = node

    def link_restored(self) -> None:
        """Rebuild children sets, the ephemeral index, the tallies and the indexes from the
        flat node dict (in the snapshot's order, sorted by path: appends, for the lock queues)."""
        self.data_bytes = sum(len(node.data) for node in self.nodes.values())
        for path, node in self.nodes.items():
            if path == ROOT:
                continue
            parent_path, name = split_path(path)
            parent = self.nodes.get(parent_path)
            if parent is None:
                raise BadRequest(f"snapshot node {path} has no parent")
            parent.children.add(name)
            if node.ephemeral_owner:
                self._ephemerals.setdefault(node.ephemeral_owner, set()).add(path)
                self.ephemeral_count += 1
            self._added(path, node)

    # ---- helpers -----------------------------------------------------------

    @staticmethod
    def _check_version(node: Node, path: str, version: int) -> None:
        if version != -1 and version != node.version:
            raise BadVersion(f"{path} is at version {node.version}, not {version}",
                             path=path, expected=version, actual=node.version)

    def _added(self, path: str, node: Node) -> None:
        for index in self._indexes:
            index.added(path, node)

    def _removed(self, path: str, node: Node) -> None:
        for index in self._indexes:
            index.removed(path, node)

    def _forget_ephemeral(self, owner: str, path: str) -> None:
        paths = self._ephemerals.get(owner)
        if paths is not None and path in paths:
            self.ephemeral_count -= 1
            paths.discard(path)
            if not paths:
                del self._ephemerals[owner]
