"""Undo log: what makes one apply atomic without copying the tree.

Every mutation of the tree or the session table records how to reverse
itself; a failing command replays the log backwards, a succeeding one drops
it. The cost is one small closure per change, so apply stays O(depth).
"""

from __future__ import annotations

from typing import Callable


class UndoLog:
    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def record(self, undo: Callable[[], None]) -> None:
        """Remember how to reverse a change that has just been made."""
        self._undo.append(undo)

    def mark(self) -> int:
        return len(self._undo)

    def rollback(self, to: int = 0) -> None:
        """Reverse every change recorded since ``mark()`` returned ``to``."""
        while len(self._undo) > to:
            self._undo.pop()()

    def commit(self) -> None:
        self._undo.clear()


class Txn:
    """The context of one ``apply``: its zxid and timestamp, the undo log, the events so far."""

    __slots__ = ("zxid", "now_ms", "undo", "events")

    def __init__(self, zxid: int, now_ms: int, undo: UndoLog) -> None:
        self.zxid = zxid
        self.now_ms = now_ms
        self.undo = undo
        self.events: list = []
