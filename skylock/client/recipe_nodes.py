"""What the node-based recipes share: making a path, creating a node exactly once,
and waiting for a watch without calling the client from its callback.

Watch callbacks may run on the client's I/O thread, where a client call would block
the very thread that must deliver its reply. So a recipe's callback only sets a flag
(``Wakeup``), and the thread that waits makes the calls.
"""

from __future__ import annotations

import threading
import time
import uuid

from skylock.client.client import Client, Event
from skylock.errors import ConnectionLost, NodeExists, Timeout


def ensure_path(client: Client, path: str, data: bytes | str = b"") -> None:
    """Create ``path`` and its missing ancestors (persistent; ``data`` for ``path`` itself).
    Concurrent creators are fine: ``NodeExists`` counts as done."""
    if client.exists(path) is not None:
        return
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        current = "/" + "/".join(parts[:depth])
        try:
            client.create(current, data if depth == len(parts) else b"")
        except NodeExists:
            pass


def create_if_absent(client: Client, path: str, data: bytes | str) -> bool:
    """Create ``path`` (and its missing parents) with ``data``; False if it exists already
    (another client made it first: the caller reads theirs)."""
    parent = path.rsplit("/", 1)[0]
    if parent:
        ensure_path(client, parent)
    try:
        client.create(path, data)
    except NodeExists:
        return False
    return True


def unique_name(prefix: str) -> str:
    """``prefix`` plus a random guid: a name only this caller can have made."""
    return f"{prefix}{uuid.uuid4().hex}-"


def create_once(client: Client, directory: str, name: str, data: bytes | str = b"", *,
                ephemeral: bool = False, sequential: bool = False) -> str:
    """Create ``directory/name`` (``name`` should hold a guid, see ``unique_name``) and return
    the child's name, sequence suffix included. After a lost reply the create may have
    applied: the node is then looked up by its name rather than made twice (an orphaned
    ephemeral would hold a lease or a place in line until the session ends)."""
    try:
        return client.create(f"{directory}/{name}", data, ephemeral=ephemeral, sequential=sequential).rsplit("/", 1)[1]
    except (ConnectionLost, Timeout):
        for child in client.children(directory):
            if child == name or (sequential and child.startswith(name)):
                return child
        raise


def deadline_of(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def remaining(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (never negative), or None for no deadline."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def sequence_of(name: str) -> int:
    """The sequence number a sequential node's name ends with (10 digits)."""
    return int(name[-10:])


class Wakeup:
    """A watch callback that only records that the watch fired; pass it as ``watch=``
    to a read, then ``wait`` for it in the thread that made the read."""

    def __init__(self) -> None:
        self._fired = threading.Event()

    def __call__(self, event: Event) -> None:
        self._fired.set()

    def wait(self, deadline: float | None) -> bool:
        """True once the watch fired; False if ``deadline`` (monotonic) passed first."""
        return self._fired.wait(remaining(deadline))
