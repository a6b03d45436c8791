"""A double barrier: a group of ``num_clients`` starts together and finishes together.

Like kazoo's ``DoubleBarrier``. ``enter`` blocks until ``num_clients`` members have
entered; ``leave`` blocks until all of them have left. Each member is an ephemeral
node, so one that dies counts as left; the last to enter puts up a ``ready`` node
that lets everyone through.

    barrier = DoubleBarrier(client, "/jobs/reindex/barrier", num_clients=3)
    barrier.enter()                # waits for the other two
    do_my_third_of_the_work()
    barrier.leave()                # waits until all three are done

Needs ``client.start_session()`` first.
"""

from __future__ import annotations

import contextlib

from skylock.client.client import Client
from skylock.client.recipe_nodes import Wakeup, create_once, deadline_of, ensure_path, unique_name
from skylock.errors import NodeExists, NoNode

READY = "ready"


class DoubleBarrier:
    def __init__(self, client: Client, path: str, num_clients: int, identifier: str = "") -> None:
        """``identifier``: this member's node data, for whoever lists the members."""
        if num_clients < 1:
            raise ValueError(f"num_clients must be at least 1, not {num_clients}")
        self.client = client
        self.path = path
        self.num_clients = num_clients
        self.identifier = identifier
        self._node: str | None = None

    @property
    def participating(self) -> bool:
        return self._node is not None

    def enter(self, timeout: float | None = None) -> bool:
        """Join, and block until ``num_clients`` members have joined; False if ``timeout``
        passes first (this member then withdraws)."""
        ensure_path(self.client, self.path)
        node = self._node or create_once(self.client, self.path, unique_name("member-"), self.identifier,
                                         ephemeral=True)
        self._node = node
        deadline = deadline_of(timeout)
        while True:
            wakeup = Wakeup()
            if self.client.exists(f"{self.path}/{READY}", watch=wakeup) is not None:
                return True
            if len(self._members()) >= self.num_clients:
                with contextlib.suppress(NodeExists):
                    self.client.create(f"{self.path}/{READY}")
                return True
            if not wakeup.wait(deadline):
                self._withdraw()
                return False

    def leave(self, timeout: float | None = None) -> bool:
        """Leave, and block until every member has left; False if ``timeout`` passes first.
        The last one out takes the ``ready`` node down, so the path can serve again."""
        self._withdraw()
        deadline = deadline_of(timeout)
        while True:
            wakeup = Wakeup()
            if not self._members(watch=wakeup):
                with contextlib.suppress(NoNode):
                    self.client.delete(f"{self.path}/{READY}")
                return True
            if not wakeup.wait(deadline):
                return False

    def _members(self, watch: Wakeup | None = None) -> list[str]:
        try:
            return [c for c in self.client.children(self.path, watch=watch) if c != READY]
        except NoNode:
            return []

    def _withdraw(self) -> None:
        node, self._node = self._node, None
        if node is not None:
            with contextlib.suppress(NoNode):
                self.client.delete(f"{self.path}/{node}")

    def __repr__(self) -> str:
        return f"DoubleBarrier({self.path!r}, num_clients={self.num_clients}, participating={self.participating})"
