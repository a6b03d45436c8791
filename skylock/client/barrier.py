"""A barrier: clients wait until a node that blocks them is removed.

Like kazoo's ``Barrier``. Whoever holds the others back creates the barrier and
removes it when they may go on; waiting is a watch on the node, not polling.

    barrier = Barrier(client, "/jobs/nightly/barrier")
    barrier.create()               # coordinator: hold everyone at the barrier
    ...
    barrier.wait(timeout=60)       # workers: True once it is removed (at once if absent)
    ...
    barrier.remove()               # coordinator: let them all through

No session is needed: the barrier node is persistent.
"""

from __future__ import annotations

from skylock.client.client import Client
from skylock.client.recipe_nodes import Wakeup, deadline_of, ensure_path
from skylock.errors import NoNode


class Barrier:
    def __init__(self, client: Client, path: str) -> None:
        self.client = client
        self.path = path

    def create(self) -> None:
        """Put the barrier up (its parents too); a no-op if it is up already."""
        ensure_path(self.client, self.path)

    def remove(self) -> bool:
        """Take the barrier down; False if it was not up."""
        try:
            self.client.delete(self.path)
        except NoNode:
            return False
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the barrier is down; False if ``timeout`` seconds pass first."""
        deadline = deadline_of(timeout)
        while True:
            wakeup = Wakeup()
            if self.client.exists(self.path, watch=wakeup) is None:
                return True
            if not wakeup.wait(deadline):
                return False

    def __repr__(self) -> str:
        return f"Barrier({self.path!r})"
