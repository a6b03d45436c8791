"""A counting semaphore: at most ``max_leases`` holders at once, across processes.

Like kazoo's ``Semaphore``. Each contender makes an ephemeral sequential lease node
under the semaphore's path; the ``max_leases`` lowest hold a lease, the rest wait in
FIFO order. A holder that dies gives its lease back when its session ends.

    sem = Semaphore(client, "db-connections", max_leases=4)
    with sem:                      # blocks until one of the 4 leases is ours
        talk_to_the_database()

    if sem.acquire(timeout=5):     # or by hand, with a timeout
        try:
            ...
        finally:
            sem.release()
    sem.lease_holders()            # the identifiers of who holds a lease now

Needs ``client.start_session()`` first. Every user of one semaphore must agree on
``max_leases``: it is written to the semaphore's node, and a different one raises
``ValueError``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from skylock.client.client import Client
from skylock.client.recipe_nodes import (Wakeup, create_once, deadline_of, ensure_path, remaining, sequence_of,
                                         unique_name)
from skylock.errors import BadVersion, NoNode, SessionExpired, SkyLockError, Timeout

#: Where a semaphore given by name (not by path) lives.
SEMAPHORES_ROOT = "/semaphores"
LEASE_PREFIX = "lease-"


class Semaphore:
    def __init__(self, client: Client, name: str, max_leases: int = 1, identifier: str = "") -> None:
        """``name``: a name (kept under ``/semaphores``) or an absolute path. ``identifier``:
        what ``lease_holders()`` shows for this contender."""
        if max_leases < 1:
            raise ValueError(f"max_leases must be at least 1, not {max_leases}")
        self.client = client
        self.path = name if name.startswith("/") else f"{SEMAPHORES_ROOT}/{name}"
        self.max_leases = max_leases
        self.identifier = identifier
        self._node: str | None = None

    @property
    def is_acquired(self) -> bool:
        return self._node is not None

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Wait for a lease; False if ``timeout`` passes first (at once if not ``blocking``),
        and our place in line is given up. ``SessionExpired`` if the session ends meanwhile."""
        if self._node is not None:
            return True
        self._agree_on_max_leases()
        node = create_once(self.client, self.path, unique_name(LEASE_PREFIX), self.identifier,
                           ephemeral=True, sequential=True)
        deadline = deadline_of(0.0 if not blocking else timeout)
        try:
            while True:
                wakeup = Wakeup()
                line = self._line(self.client.children(self.path, watch=wakeup))
                if node not in line:
                    raise SessionExpired(f"semaphore {self.path}: our lease node is gone (session ended)")
                if line.index(node) < self.max_leases:
                    self._node = node
                    return True
                if remaining(deadline) == 0.0 or not wakeup.wait(deadline):
                    self._give_up(node)
                    return False
        except BaseException:
            if self._node is None:
                with contextlib.suppress(SkyLockError):  # the session's end removes it anyway
                    self._give_up(node)
            raise

    def release(self) -> None:
        """Give the lease back; a no-op when none is held."""
        node, self._node = self._node, None
        if node is not None:
            self._give_up(node)

    def lease_holders(self) -> list[str]:
        """The identifiers of the current holders, in the order they got their leases."""
        holders = []
        try:
            line = self._line(self.client.children(self.path))
        except NoNode:
            return []
        for name in line[:self.max_leases]:
            try:
                data, _ = self.client.get(f"{self.path}/{name}")
            except NoNode:
                continue  # released meanwhile
            holders.append(data.decode())
        return holders

    # ---- the recipe ------------------------------------------------------------------------------

    def _agree_on_max_leases(self) -> None:
        ensure_path(self.client, self.path, str(self.max_leases))
        while True:
            data, stat = self.client.get(self.path)
            if data:
                if int(data) != self.max_leases:
                    raise ValueError(f"semaphore {self.path} has max_leases {int(data)}, not {self.max_leases}")
                return
            try:  # made by someone else (e.g. an ancestor of another semaphore): claim it
                self.client.set(self.path, str(self.max_leases), version=int(stat["version"]))
            except BadVersion:
                continue

    @staticmethod
    def _line(children: list[str]) -> list[str]:
        return sorted((c for c in children if c.startswith(LEASE_PREFIX)), key=sequence_of)

    def _give_up(self, node: str) -> None:
        try:
            self.client.delete(f"{self.path}/{node}")
        except NoNode:
            pass  # gone with the session already

    def __enter__(self) -> "Semaphore":
        if not self.acquire():
            raise Timeout(f"semaphore {self.path} not acquired")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Semaphore({self.path!r}, max_leases={self.max_leases}, acquired={self.is_acquired})"
