"""A distributed queue with priorities: FIFO within a priority, lowest priority first.

Like kazoo's ``Queue``. Each item is a persistent sequential node
``entry-PPP-NNNNNNNNNN`` (priority, then sequence), so the order is the server's;
``get`` takes the first item by deleting it, and of two consumers racing for one
item exactly one gets it.

    queue = Queue(client, "/jobs/queue")
    queue.put(b"resize photo 17")
    queue.put(b"urgent", priority=10)   # 0-999, lower first (default 100)
    queue.put_all([b"a", b"b"])
    len(queue)                          # 4
    queue.get()                         # b"urgent"; None when the queue is empty

An item taken by ``get`` is gone even if its consumer dies before handling it: use
``LockingQueue`` when every item must be handled. No session is needed.
"""

from __future__ import annotations

from skylock.client.client import Client
from skylock.client.recipe_nodes import ensure_path, sequence_of
from skylock.errors import NoNode

ENTRY_PREFIX = "entry-"
DEFAULT_PRIORITY = 100


def entry_name(priority: int) -> str:
    """The name an item of ``priority`` is created under (the server appends the sequence)."""
    if not isinstance(priority, int) or not 0 <= priority <= 999:
        raise ValueError(f"priority must be an int from 0 to 999, not {priority!r}")
    return f"{ENTRY_PREFIX}{priority:03d}-"


def in_order(children: list[str]) -> list[str]:
    """The queue's items, first to be taken first: by priority, then by arrival."""
    entries = [c for c in children if c.startswith(ENTRY_PREFIX)]
    return sorted(entries, key=lambda c: (c[len(ENTRY_PREFIX):len(ENTRY_PREFIX) + 3], sequence_of(c)))


class ItemStore:
    """What both queues do with their items: count them and add them (under ``items_path``)."""

    def __init__(self, client: Client, items_path: str) -> None:
        self.client = client
        self.items_path = items_path

    def __len__(self) -> int:
        try:
            return len(in_order(self.client.children(self.items_path)))
        except NoNode:
            return 0

    def put(self, value: bytes | str, priority: int = DEFAULT_PRIORITY) -> None:
        self.put_all([value], priority)

    def put_all(self, values: list[bytes | str], priority: int = DEFAULT_PRIORITY) -> None:
        """Add ``values`` in order, with one priority."""
        ensure_path(self.client, self.items_path)
        name = entry_name(priority)
        for value in values:
            self.client.create(f"{self.items_path}/{name}", value, sequential=True)


class Queue(ItemStore):
    def __init__(self, client: Client, path: str) -> None:
        super().__init__(client, path)
        self.path = path

    def get(self) -> bytes | None:
        """Take the first item; None if the queue is empty. Never blocks."""
        try:
            children = self.client.children(self.path)
        except NoNode:
            return None
        for name in in_order(children):
            path = f"{self.path}/{name}"
            try:
                data, _ = self.client.get(path)
                self.client.delete(path)  # whoever deletes it, takes it
            except NoNode:
                continue  # another consumer took it first
            return data
        return None

    def __repr__(self) -> str:
        return f"Queue({self.path!r})"
