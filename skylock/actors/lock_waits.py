"""Lock requests that wait on this node, and what each is owed as its lock's queue changes.

A ``lock.acquire`` is proposed like a write (ZooKeeper's recipe, kept in the replicated tree
by the state machine: an ephemeral sequential node under ``/locks/{name}``; the lowest holds
the lock). When it applies, its request either holds the lock, and is answered at once, or
must wait. A wait is kept here until one of three things answers it:

- its entry comes to hold the lock (an apply released the one before it): the grant;
- its entry leaves the queue without holding it (its session ended, or a restored snapshot no
  longer has it): ``SessionExpired``;
- its timeout passes first: ``Timeout``, and the entry is removed through the log, since an
  entry left behind would later be granted to a client that gave up.

The Store owns this table, as it owns the reads parked until an index applies: both are
answers owed on conditions of the applied state, and the Store is where that state changes
and where the client socket is. A grant thus leaves on the thread whose apply made it, with
no hop to another actor and back (which cost a contended lock's hand-off a fifth of its rate).

Because every node applies every entry, a wait lives on the node its client talks to and
survives a leader change untouched. A client that fails over to another node sends the same
request id again; acquire is idempotent per (session, request id), so the wait continues
where it was, and a node may hold several requests for one entry (each is answered).

Waits are keyed by the lock node's entry name (``lock-NNNNNNNNNN``), the only name the
applied queues show; the full lock id (entry plus mac, a credential) stays with the wait,
for its grant and for the release that cancels it. This module does no I/O: the Store
answers and proposes what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skylock.actors.messages import LockChange, WaitForLock
from skylock.errors import SkyLockError
from skylock.state import commands


@dataclass(slots=True)
class LockWait:
    request: WaitForLock
    entry: str
    lock_id: str
    token: int

    @property
    def deadline(self) -> float:
        """Monotonic time at which the request gives up (its timeout counts from its arrival)."""
        return self.request.started + self.request.timeout_ms / 1000.0

    def grant(self) -> dict[str, Any]:
        return grant(self.request, self.lock_id, self.token)

    def cancel(self) -> dict[str, Any]:
        """The command that takes its entry out of the queue."""
        request = self.request
        return commands.lock_release(request.name, session_id=request.session_id, lock_id=self.lock_id)


def grant(request: WaitForLock, lock_id: str, token: int) -> dict[str, Any]:
    """The reply to an acquire that holds the lock."""
    return {"name": request.name, "lock_id": lock_id, "token": token,
            "owner": request.owner, "session_id": request.session_id}


def acquire_command(request: WaitForLock, now_ms: int) -> dict[str, Any]:
    return commands.lock_acquire(request.name, session_id=request.session_id, owner=request.owner,
                                 request_id=request.request_id, now_ms=now_ms,
                                 lock_delay_ms=request.lock_delay_ms)


def acquire_waits(result: dict[str, Any] | None, error: SkyLockError | None) -> bool:
    """Does an applied acquire wait (it neither failed nor got the lock)?"""
    return error is None and not (result is not None and result.get("holder"))


@dataclass(slots=True)
class Settled:
    """The waits one lock's change answered: granted, or gone from the queue."""

    granted: list[LockWait]
    gone: list[LockWait]


class LockWaits:
    """This node's waiting lock requests: lock name -> entry -> the requests waiting on it."""

    def __init__(self) -> None:
        self._waiting: dict[str, dict[str, list[LockWait]]] = {}

    def __contains__(self, name: str) -> bool:
        """Does anyone here wait on lock ``name``?"""
        return name in self._waiting

    def names(self) -> list[str]:
        """The locks someone here waits on."""
        return list(self._waiting)

    def __len__(self) -> int:
        return sum(len(waits) for entries in self._waiting.values() for waits in entries.values())

    def add(self, request: WaitForLock, result: dict[str, Any]) -> LockWait:
        """The applied acquire ``result`` (which does not hold the lock) waits from now on."""
        wait = LockWait(request, str(result["entry"]), str(result["lock_id"]), int(result["token"]))
        self._waiting.setdefault(request.name, {}).setdefault(wait.entry, []).append(wait)
        return wait

    def settle(self, name: str, change: LockChange) -> Settled:
        """Take out the waits that ``change`` of lock ``name`` answers. O(entries waited on
        here), whatever the length of the lock's queue."""
        settled = Settled([], [])
        waiting = self._waiting.get(name)
        if not waiting:
            return settled
        for entry in list(waiting):
            if entry == change.holder:
                settled.granted.extend(waiting.pop(entry))
            elif change.gone(entry):
                settled.gone.extend(waiting.pop(entry))
        if not waiting:
            del self._waiting[name]
        return settled

    def expire(self, now: float) -> tuple[list[LockWait], list[LockWait]]:
        """Take out the waits whose timeout has passed: (to answer ``Timeout``, whose entries
        to cancel). An entry still waited on by another request here stays queued."""
        expired: list[LockWait] = []
        cancel: list[LockWait] = []
        for name in list(self._waiting):
            waiting = self._waiting[name]
            for entry in list(waiting):
                waits = waiting[entry]
                if all(wait.deadline > now for wait in waits):
                    continue
                left = [wait for wait in waits if wait.deadline > now]
                gone = [wait for wait in waits if wait.deadline <= now]
                expired.extend(gone)
                if left:
                    waiting[entry] = left
                else:
                    del waiting[entry]
                    cancel.append(gone[0])
            if not waiting:
                del self._waiting[name]
        return expired, cancel
