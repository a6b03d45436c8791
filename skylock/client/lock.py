"""A distributed lock, held by this client's session.

The queue lives on the server (``lock.acquire``: ZooKeeper's recipe of
ephemeral sequential nodes, FIFO, no herd), so this class is mostly
bookkeeping: who holds what, the fencing token, and noticing when the session
expires, because then the server has already given the lock to someone else.

    with Lock(client, "orders", owner="worker-1") as lock:
        client.multi([lock.check_op(), {"op": "set", "path": "/orders/next", "data": b"42"}])
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from skylock.client.client import Client, SessionState
from skylock.errors import NoNode, SessionExpired, Timeout

#: How long one server-side wait lasts when the caller is willing to wait forever.
FOREVER_CHUNK = 3600.0


class Lock:
    """``Lock(client, name, owner="")``: needs ``client.start_session()`` first.

    Re-entrant per session on the server side; here a second ``acquire`` while
    held simply returns True.
    """

    def __init__(self, client: Client, name: str, owner: str = "",
                 on_lost: Callable[["Lock"], None] | None = None, lock_delay: float = 0.0) -> None:
        """``lock_delay``: seconds the cluster withholds the lock from the next waiter if this
        session expires while holding it (see ``Client.lock_acquire``)."""
        self.client = client
        self.name = name
        self.owner = owner
        self.lock_delay = lock_delay
        self.on_lost = on_lost
        self._mutex = threading.Lock()
        self._grant: dict[str, Any] | None = None
        self._listening = False

    # ---- state ----------------------------------------------------------------------------------

    @property
    def is_held(self) -> bool:
        """True while granted and the session has not expired (or been closed)."""
        return self._grant is not None

    @property
    def token(self) -> int | None:
        """The fencing token of the current grant: give it to resources so they can refuse stale holders."""
        grant = self._grant
        return int(grant["token"]) if grant else None

    @property
    def lock_id(self) -> str | None:
        grant = self._grant
        return str(grant["lock_id"]) if grant else None

    def check_op(self) -> dict[str, Any]:
        """A ``multi`` op that makes the rest of the transaction conditional on still holding this lock."""
        grant = self._grant
        if grant is None:
            raise SessionExpired(f"lock {self.name} is not held")
        return {"op": "check_lock", "name": self.name, "token": int(grant["token"]),
                "session_id": str(grant["session_id"])}

    # ---- acquire / release ---------------------------------------------------------------------

    def acquire(self, timeout: float | None = None, blocking: bool = True) -> bool:
        """Wait for the lock; False when ``timeout`` passes first (or at once if not ``blocking``).

        Raises ``SessionExpired`` without a live session and whatever the cluster reports otherwise.
        """
        if self._grant is not None:
            return True
        self._listen()
        if not blocking:
            timeout = 0.0
        while True:
            wait = FOREVER_CHUNK if timeout is None else timeout
            try:
                grant = self.client.lock_acquire(self.name, owner=self.owner, timeout=max(wait, 0.001),
                                                 lock_delay=self.lock_delay)
            except Timeout:
                if timeout is None:
                    continue  # waited an hour; queue again
                self._unlisten()
                return False
            with self._mutex:
                self._grant = grant
            if self.client.state in (SessionState.EXPIRED, SessionState.CLOSED):
                self._lost()  # expired while the reply was in flight
                return False
            return True

    def release(self) -> None:
        """Give the lock up; a no-op when not held (e.g. the session already expired)."""
        with self._mutex:
            grant, self._grant = self._grant, None
        self._unlisten()
        if grant is None:
            return
        try:
            self.client.lock_release(self.name, str(grant["lock_id"]), session_id=str(grant["session_id"]))
        except (NoNode, SessionExpired):
            pass  # already gone with the session: nothing left to release

    def _listen(self) -> None:
        if not self._listening:
            self.client.add_listener(self._on_state)
            self._listening = True

    def _unlisten(self) -> None:
        """A released lock needs no news of the session: many short-lived Locks must not pile up as listeners."""
        if self._listening:
            self.client.remove_listener(self._on_state)
            self._listening = False

    def _on_state(self, state: SessionState) -> None:
        """The server releases a lost session's locks itself; we only have to stop believing we hold one."""
        if state in (SessionState.EXPIRED, SessionState.CLOSED):
            self._lost()

    def _lost(self) -> None:
        with self._mutex:
            had, self._grant = self._grant is not None, None
        if had and self.on_lost is not None:
            self.on_lost(self)

    def __enter__(self) -> "Lock":
        if not self.acquire():
            raise Timeout(f"lock {self.name} not acquired")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Lock({self.name!r}, held={self.is_held}, token={self.token})"
