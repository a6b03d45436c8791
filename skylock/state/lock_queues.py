"""The lock queues: each lock's contenders in order, kept in step with the tree.

Which nodes contend for a lock is a rule of the tree's shape: the ephemeral
``lock-NNNNNNNNNN`` children directly under ``/locks/{name}``, lowest first (a
node written there by hand that is not ephemeral neither holds nor blocks). Sorting
and filtering a lock directory's children on every lock operation costs O(N log N)
for N waiters; this index answers "who holds", "who is before me" and "which entry
is this session's" in O(1) instead, and lists a queue in O(N) without a sort.

It is derived state: the tree tells it of every node added or removed (undo and
snapshot restore included), and it is never serialised, so snapshots and state
hashes are what they were without it.
"""

from __future__ import annotations

import re
from collections import OrderedDict

from .paths import split_path
from .tree import Node

LOCKS_ROOT = "/locks"
#: A contender's node name: what a sequential create of ``lock-`` under a lock makes.
ENTRY = re.compile(r"lock-[0-9]{10}")


class LockQueues:
    """Lock directory path -> its contenders' entry names, lowest first; and each session's
    entries per lock directory.

    Sequential names only grow within a parent, so a new entry normally goes at the
    end; an insert out of order (the undo of a delete, a node created by hand with a
    lower name than the newest) moves only the entries after it. An ``OrderedDict``,
    not a plain dict, because its first key stays O(1) after many deletes at the front.
    """

    def __init__(self) -> None:
        self._queues: dict[str, OrderedDict[str, None]] = {}
        #: (directory, owner) -> that session's entries there: usually one
        self._owned: dict[tuple[str, str], set[str]] = {}

    # ---- kept in step by the tree (a ``TreeIndex``) ------------------------------

    def added(self, path: str, node: Node) -> None:
        if (place := _entry_place(path, node)) is None:
            return
        directory, name = place
        queue = self._queues.setdefault(directory, OrderedDict())
        later = _names_after(queue, name)
        queue[name] = None
        for moved in reversed(later):
            queue.move_to_end(moved)
        self._owned.setdefault((directory, node.ephemeral_owner), set()).add(name)

    def removed(self, path: str, node: Node) -> None:
        if (place := _entry_place(path, node)) is None:
            return
        directory, name = place
        queue = self._queues[directory]
        del queue[name]
        if not queue:
            del self._queues[directory]
        owned_key = (directory, node.ephemeral_owner)
        owned = self._owned[owned_key]
        owned.discard(name)
        if not owned:
            del self._owned[owned_key]

    # ---- reads -------------------------------------------------------------------

    def first(self, directory: str) -> str | None:
        """The lowest entry queued in ``directory`` (the holder unless the lock is delayed)."""
        queue = self._queues.get(directory)
        return next(iter(queue)) if queue else None

    def count(self, directory: str) -> int:
        """How many entries are queued in ``directory`` (the holder among them)."""
        return len(self._queues.get(directory, ()))

    def entries(self, directory: str) -> list[str]:
        """Every entry queued in ``directory``, lowest first."""
        return list(self._queues.get(directory, ()))

    def predecessor(self, directory: str, name: str) -> str | None:
        """The entry just before ``name``: O(1) for the newest entry, which an acquire
        has just appended; a scan from the end for an older one (a retried acquire)."""
        names = reversed(self._queues.get(directory, {}))
        for entry in names:
            if entry == name:
                return next(names, None)
        raise ValueError(f"{name} is not queued in {directory}")

    def entry_of(self, directory: str, owner: str) -> str | None:
        """The lowest entry session ``owner`` has queued in ``directory``, if any."""
        owned = self._owned.get((directory, owner))
        return min(owned) if owned else None


def _entry_place(path: str, node: Node) -> tuple[str, str] | None:
    """``(lock directory, entry name)`` when the node is a lock entry: an ephemeral
    ``lock-NNNNNNNNNN`` directly under ``/locks/{name}``. Most nodes are not ephemeral, and
    pay for no split and no pattern match."""
    if not node.ephemeral_owner:
        return None
    directory, name = split_path(path)
    if ENTRY.fullmatch(name) is None or split_path(directory)[0] != LOCKS_ROOT:
        return None
    return directory, name


def _names_after(queue: OrderedDict[str, None], name: str) -> list[str]:
    """The entries of ``queue`` that sort after ``name``, highest first: none for a new
    sequential entry, so appending one stays O(1)."""
    later = []
    for entry in reversed(queue):
        if entry < name:
            break
        later.append(entry)
    return later
