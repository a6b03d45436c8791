"""A read/write lock: ZooKeeper's shared-lock recipe, run by the client.

Each contender creates an ephemeral sequential node under ``/rwlocks/{name}``,
``read-<guid>-NNNNNNNNNN`` or ``write-<guid>-NNNNNNNNNN``; order is the
sequence number. A reader holds the lock once no writer is ahead of it, a
writer once nobody is ahead of it. Each waiter watches only the one node it
waits for (a reader: the nearest writer ahead; a writer: its immediate
predecessor) with an ``exists`` watch, so a release wakes one waiter, not the
herd, and waiters are served in arrival order.

The guid in the name lets a contender find its own node again when the reply
to its ``create`` was lost, instead of leaving an orphan that would block
everyone until the session ends.

    rw = ReadWriteLock(client, "catalog")
    with rw.read_lock():
        ...   # shared with other readers
    with rw.write_lock():
        ...   # exclusive
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from skylock.client.client import Client, Event
from skylock.errors import ConnectionLost, NodeExists, NoNode, SkyLockError, Timeout

ROOT = "/rwlocks"
READ, WRITE = "read", "write"


def _sequence(node: str) -> int:
    return int(node.rsplit("-", 1)[1])


class _Side:
    """One acquisition (a read or a write), usable as a context manager."""

    def __init__(self, rw: "ReadWriteLock", kind: str) -> None:
        self.rw = rw
        self.kind = kind
        self.path: str | None = None

    @property
    def is_held(self) -> bool:
        return self.path is not None

    def acquire(self, timeout: float | None = None) -> bool:
        """Wait for this side of the lock; False (and out of the queue) when ``timeout`` passes."""
        if self.path is not None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        node = self.rw._enqueue(self.kind)
        try:
            if self.rw._wait_turn(node, self.kind, deadline):
                self.path = f"{self.rw.directory}/{node}"
                return True
        except BaseException:
            self.rw._leave(node)
            raise
        self.rw._leave(node)
        return False

    def release(self) -> None:
        path, self.path = self.path, None
        if path is not None:
            self.rw._leave(path.rsplit("/", 1)[1])

    def __enter__(self) -> "_Side":
        if not self.acquire(self.rw.timeout):
            raise Timeout(f"{self.kind} lock on {self.rw.name} not acquired within {self.rw.timeout}s")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class ReadWriteLock:
    """``ReadWriteLock(client, name)``: needs ``client.start_session()`` (the nodes are ephemeral,
    so a crashed holder's lock goes away with its session)."""

    def __init__(self, client: Client, name: str, timeout: float | None = None) -> None:
        self.client = client
        self.name = name
        self.directory = f"{ROOT}/{name}"
        #: the wait allowed by the context managers (None: forever)
        self.timeout = timeout

    def read_lock(self) -> _Side:
        """Shared: any number of readers at once, none while a writer ahead of them holds or waits."""
        return _Side(self, READ)

    def write_lock(self) -> _Side:
        """Exclusive: waits for everyone ahead, readers and writers alike."""
        return _Side(self, WRITE)

    # ---- the recipe ------------------------------------------------------------------------------

    def _ensure_parents(self) -> None:
        for path in (ROOT, self.directory):
            try:
                self.client.create(path)
            except NodeExists:
                pass

    def _enqueue(self, kind: str) -> str:
        """Create our node and return its name; finds it by guid if the create's reply was lost."""
        self._ensure_parents()
        prefix = f"{kind}-{uuid.uuid4().hex[:12]}-"
        try:
            return self.client.create(f"{self.directory}/{prefix}", ephemeral=True, sequential=True).rsplit("/", 1)[1]
        except (ConnectionLost, Timeout):  # it may have been created: look for it
            for child in self.client.children(self.directory):
                if child.startswith(prefix):
                    return child
            raise

    def _blocker(self, node: str, kind: str) -> str | None:
        """The node ``node`` must wait for, or None when it holds the lock."""
        ahead = [c for c in self.client.children(self.directory)
                 if "-" in c and _sequence(c) < _sequence(node)
                 and (kind == WRITE or c.startswith(WRITE + "-"))]
        return max(ahead, key=_sequence) if ahead else None

    def _wait_turn(self, node: str, kind: str, deadline: float | None) -> bool:
        while True:
            blocker = self._blocker(node, kind)
            if blocker is None:
                return True
            gone = threading.Event()

            def wake(_event: Event) -> None:
                gone.set()

            # The watch is armed by the same read that checks the node, so its deletion cannot slip between.
            if self.client.exists(f"{self.directory}/{blocker}", watch=wake) is None:
                continue
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if not gone.wait(remaining):
                return False

    def _leave(self, node: str) -> None:
        try:
            self.client.delete(f"{self.directory}/{node}")
        except NoNode:
            pass
        except SkyLockError:
            # Unknown outcome: check, and if still there try once more; the session's end removes it anyway.
            if self.client.exists(f"{self.directory}/{node}") is not None:
                self.client.delete(f"{self.directory}/{node}")

    def __repr__(self) -> str:
        return f"ReadWriteLock({self.name!r})"
