"""A queue whose items are locked while handled, and removed only once done.

Like kazoo's ``LockingQueue``. ``get`` blocks until an item is free, then locks it
with an ephemeral node under ``taken/``; ``consume`` removes it for good (item and
lock in one transaction), ``release`` puts it back for others. A consumer that dies
while holding an item releases it with its session, so no item is lost.

    queue = LockingQueue(client, "/jobs/work")
    queue.put(b"resize photo 17", priority=50)   # priorities as in Queue
    item = queue.get(timeout=10)   # b"resize photo 17", now locked by us (None on timeout)
    try:
        handle(item)
        queue.consume()            # done: the item is gone
    except Exception:
        queue.release()            # not done: someone else may take it
        raise

One item at a time per ``LockingQueue`` object: until it is consumed or released,
``get`` returns the same item again. Needs ``client.start_session()`` first.
"""

from __future__ import annotations

import contextlib

from skylock.client.client import Client
from skylock.client.queue import ItemStore, in_order
from skylock.client.recipe_nodes import Wakeup, deadline_of, ensure_path
from skylock.errors import NodeExists, NoNode


class LockingQueue(ItemStore):
    def __init__(self, client: Client, path: str, identifier: str = "") -> None:
        """``identifier``: written into the lock of each item this consumer takes."""
        super().__init__(client, f"{path}/entries")
        self.path = path
        self.identifier = identifier
        self.entries = self.items_path
        self.taken = f"{path}/taken"
        self._held: tuple[str, bytes] | None = None  # (entry name, data)

    def get(self, timeout: float | None = None) -> bytes | None:
        """Lock and return the first free item, waiting for one up to ``timeout`` seconds
        (None: for ever); None if none came. The item held already, if any, is returned again."""
        if self._held is not None:
            return self._held[1]
        ensure_path(self.client, self.entries)
        ensure_path(self.client, self.taken)
        deadline = deadline_of(timeout)
        while True:
            wakeup = Wakeup()  # a new item, or a taken one released
            entries = in_order(self.client.children(self.entries, watch=wakeup))
            taken = set(self.client.children(self.taken, watch=wakeup))
            for name in entries:
                if name not in taken and self._take(name):
                    assert self._held is not None
                    return self._held[1]
            if not wakeup.wait(deadline):
                return None

    def holds_lock(self) -> bool:
        """True while this consumer holds an item (its lock node still exists)."""
        return self._held is not None and self.client.exists(f"{self.taken}/{self._held[0]}") is not None

    def consume(self) -> bool:
        """Remove the held item for good; False if none is held."""
        if self._held is None:
            return False
        name = self._held[0]
        self.client.multi([{"op": "delete", "path": f"{self.taken}/{name}"},
                           {"op": "delete", "path": f"{self.entries}/{name}"}])
        self._held = None
        return True

    def release(self) -> bool:
        """Put the held item back, first in line again; False if none is held."""
        if self._held is None:
            return False
        name, self._held = self._held[0], None
        with contextlib.suppress(NoNode):
            self.client.delete(f"{self.taken}/{name}")
        return True

    def _take(self, name: str) -> bool:
        try:
            self.client.create(f"{self.taken}/{name}", self.identifier, ephemeral=True)
        except NodeExists:
            return False  # another consumer locked it first
        try:
            data, _ = self.client.get(f"{self.entries}/{name}")
        except NoNode:  # consumed between our listing and our lock
            with contextlib.suppress(NoNode):
                self.client.delete(f"{self.taken}/{name}")
            return False
        self._held = (name, data)
        return True

    def __repr__(self) -> str:
        return f"LockingQueue({self.path!r})"
