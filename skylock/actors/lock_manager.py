"""The LockManager actor: lock requests that wait, and their timeouts.

The lock itself is the ZooKeeper recipe, kept in the replicated tree by the
state machine: an ephemeral sequential node under ``/locks/{name}``, the lowest
holds it, the fencing token is that node's creation zxid. This actor only does
what must not be replicated: it remembers which client on *this* node waits for
which lock node, answers it when the Store reports that its node became the
lowest, and on timeout removes the node through the log and answers ``Timeout``.

Because every node applies every entry, a wait lives on the node the client
talks to and survives a leader change untouched. A client that fails over to
another node re-sends the same request id; acquire is idempotent per
(session, request id), so the wait continues where it was.

Lock-delay is timed here, since the replicated state has no clock: every node tracks
the delayed locks it sees applied, and the leader proposes ``lock_delay_end`` once a
delay has run its full length *from when this node saw it start or became leader*.
A new leader thus restarts every pending delay at its full length (the delay may grow
by up to its length over a leader change, never shrink), as the SessionManager does
with session deadlines.

Waits are keyed by the lock node's entry name (``lock-NNNNNNNNNN``), the only
name the applied queues show; the full lock id (entry plus mac, a credential)
stays with the waiter, for its grant and for the release that cancels it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pykka

from skylock.actors.base import NodeActor
from skylock.actors.messages import CheckLocks, LeadershipChanged, LockEnqueued, LocksChanged, Propose, WaitForLock
from skylock.actors.outbox import Outbox
from skylock.actors.pending import PendingRequests
from skylock.actors.proposals import encode_proposal, propose_for
from skylock.errors import SessionExpired, SkyLockError, Timeout
from skylock.state import commands

#: How long to wait for a cancelling release to apply before proposing it again.
CANCEL_RETRY_SECONDS = 2.0


@dataclass(slots=True)
class _Waiter:
    request: WaitForLock
    entry: str
    lock_id: str
    token: int
    deadline: float


@dataclass(slots=True)
class _Delay:
    since: int  # the zxid that started it: names it in lock_delay_end
    seconds: float
    due: float | None  # leader only: when to propose its end (monotonic)


@dataclass(slots=True)
class _Cancel:
    name: str
    session_id: str
    lock_id: str
    retry_at: float


class LockManager(NodeActor):
    def __init__(self, node_id: int, outbox: Outbox, pending: PendingRequests, request_timeout: float) -> None:
        super().__init__(node_id)
        self.outbox = outbox
        self.pending = pending
        self.request_timeout = request_timeout
        self.raft: pykka.ActorRef[Any] | None = None
        self._waiting: dict[str, dict[str, list[_Waiter]]] = {}  # name -> entry -> waiters
        self._cancels: dict[tuple[str, str], _Cancel] = {}  # (name, entry) -> release to retry
        self._delays: dict[str, _Delay] = {}  # name -> its pending lock-delay, as applied here
        self._is_leader = False
        self.handlers = {
            WaitForLock: self._on_acquire,
            LockEnqueued: self._on_enqueued,
            LocksChanged: self._on_locks_changed,
            CheckLocks: self._on_check,
            LeadershipChanged: self._on_leadership,
        }

    def connect(self, raft: pykka.ActorRef[Any]) -> None:
        self.raft = raft

    def _propose(self, command: dict[str, Any]) -> None:
        """A proposal nobody waits for (its effect is observed through ``LocksChanged``)."""
        assert self.raft is not None
        self.raft.tell(Propose(encode_proposal(self.node_id, 0, command)))

    # ---- acquire --------------------------------------------------------------------

    def _on_acquire(self, msg: WaitForLock) -> None:
        """Enqueue through the log; the applied result comes back as ``LockEnqueued``."""
        me = self.actor_ref

        def enqueued(result: dict[str, Any] | None, error: SkyLockError | None) -> None:
            me.tell(LockEnqueued(msg, result, error))

        command = commands.lock_acquire(
            msg.name, session_id=msg.session_id, owner=msg.owner, request_id=msg.request_id,
            now_ms=int(time.time() * 1000), lock_delay_ms=msg.lock_delay_ms,
        )
        assert self.raft is not None
        propose_for(msg.reply, "lock.acquire", command, node_id=self.node_id, raft=self.raft, pending=self.pending,
                    deadline=time.monotonic() + self.request_timeout, on_result=enqueued)

    def _on_enqueued(self, msg: LockEnqueued) -> None:
        request = msg.request
        if msg.error is not None:
            self.outbox.error(request.reply, msg.error)
            return
        assert msg.result is not None
        entry, lock_id, token = str(msg.result["entry"]), str(msg.result["lock_id"]), int(msg.result["token"])
        if msg.result.get("holder"):
            self._grant(request, lock_id, token)
            return
        deadline = request.started + request.timeout_ms / 1000.0
        waiter = _Waiter(request, entry, lock_id, token, deadline)
        if deadline <= time.monotonic():
            self._time_out(waiter)
            return
        self._waiting.setdefault(request.name, {}).setdefault(entry, []).append(waiter)

    def _grant(self, request: WaitForLock, lock_id: str, token: int) -> None:
        self.outbox.ok(request.reply, {
            "name": request.name, "lock_id": lock_id, "token": token,
            "owner": request.owner, "session_id": request.session_id,
        })

    # ---- changes of the applied lock queues ----------------------------------------------------

    def _on_locks_changed(self, msg: LocksChanged) -> None:
        for name, info in msg.locks.items():
            self._track_delay(name, info.get("delay"))
            holder = info["holder"]["entry"] if info["holder"] else None
            queued = {w["entry"] for w in info["waiters"]}
            if holder:
                queued.add(holder)
            waiting = self._waiting.get(name, {})
            for entry in list(waiting):
                if entry == holder:
                    for waiter in waiting.pop(entry):
                        self._grant(waiter.request, waiter.lock_id, waiter.token)
                elif entry not in queued:
                    for waiter in waiting.pop(entry):
                        self.outbox.error(waiter.request.reply, SessionExpired(
                            f"the request for lock {name} was removed (its session ended)",
                            session_id=waiter.request.session_id,
                        ))
            if not waiting:
                self._waiting.pop(name, None)
            for key in [k for k in self._cancels if k[0] == name and k[1] not in queued]:
                del self._cancels[key]

    # ---- lock-delay --------------------------------------------------------------------------------

    def _track_delay(self, name: str, delay: dict[str, Any] | None) -> None:
        if delay is None:
            self._delays.pop(name, None)
            return
        known = self._delays.get(name)
        if known is None or known.since != int(delay["since"]):
            seconds = int(delay["lock_delay_ms"]) / 1000.0
            due = time.monotonic() + seconds if self._is_leader else None
            self._delays[name] = _Delay(int(delay["since"]), seconds, due)

    def _on_leadership(self, msg: LeadershipChanged) -> None:
        became_leader = msg.is_leader and not self._is_leader
        self._is_leader = msg.is_leader
        now = time.monotonic()
        for pending in self._delays.values():
            if not msg.is_leader:
                pending.due = None  # the leader ends it
            elif became_leader:
                # we cannot know how long ago it started elsewhere: wait the whole delay
                pending.due = now + pending.seconds

    def _end_due_delays(self, now: float) -> None:
        """Leader: propose the end of every delay that is over, again after a while until it applies."""
        for name, pending in self._delays.items():
            if self._is_leader and pending.due is not None and pending.due <= now:
                pending.due = now + CANCEL_RETRY_SECONDS
                self._propose(commands.lock_delay_end(name, since=pending.since))

    # ---- timeouts ------------------------------------------------------------------------------------

    def _on_check(self, msg: CheckLocks) -> None:
        now = msg.now
        for name in list(self._waiting):
            waiting = self._waiting[name]
            for entry in list(waiting):
                expired = [w for w in waiting[entry] if w.deadline <= now]
                if not expired:
                    continue
                left = [w for w in waiting[entry] if w.deadline > now]
                if left:
                    waiting[entry] = left
                else:
                    del waiting[entry]
                for waiter in expired:
                    self._time_out(waiter, cancel=not left)
            if not waiting:
                del self._waiting[name]
        self._end_due_delays(now)
        for cancel in self._cancels.values():
            if cancel.retry_at <= now:
                cancel.retry_at = now + CANCEL_RETRY_SECONDS
                self._propose(commands.lock_release(cancel.name, session_id=cancel.session_id, lock_id=cancel.lock_id))

    def _time_out(self, waiter: _Waiter, cancel: bool = True) -> None:
        """Answer Timeout and remove the waiter's node, retrying until the removal applies
        (a node left behind would later be granted to a client that gave up)."""
        request = waiter.request
        self.outbox.error(request.reply, Timeout(
            f"lock {request.name} not acquired within {request.timeout_ms} ms", name=request.name,
        ))
        if cancel:
            key = (request.name, waiter.entry)
            self._cancels[key] = _Cancel(request.name, request.session_id, waiter.lock_id,
                                         time.monotonic() + CANCEL_RETRY_SECONDS)
            self._propose(commands.lock_release(request.name, session_id=request.session_id, lock_id=waiter.lock_id))
