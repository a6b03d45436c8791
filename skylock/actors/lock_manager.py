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
the delayed locks it sees applied, and the leader proposes ``lock_delay_end`` (once: RaftNode
proposes it again until it commits) once a delay has run its full length *from when this
node saw it start or became leader*.
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
from skylock.actors.messages import CheckLocks, LeadershipChanged, LockEnqueued, LocksChanged, Propose, WaitForLock, Waiter
from skylock.actors.outbox import Outbox
from skylock.errors import SessionExpired, SkyLockError, Timeout
from skylock.state import commands

@dataclass(slots=True)
class _QueuedWait:
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



def grant(request: WaitForLock, lock_id: str, token: int) -> dict[str, Any]:
    """The reply to an acquire that holds the lock."""
    return {"name": request.name, "lock_id": lock_id, "token": token,
            "owner": request.owner, "session_id": request.session_id}


def acquire_waits(result: dict[str, Any] | None, error: SkyLockError | None) -> bool:
    """Does an applied acquire become a wait at its node's LockManager (it neither failed nor
    got the lock)? The one rule for ``propose_acquire``'s answer and the Store's lock reports."""
    return error is None and not (result is not None and result.get("holder"))


def propose_acquire(request: WaitForLock, *, raft: pykka.ActorRef[Any], locks: pykka.ActorRef[Any],
                    outbox: Outbox, deadline: float) -> None:
    """Enqueue ``request`` through the log, from the gateway: an acquire that gets the lock at
    once is answered straight from the Store's thread when it applies, so the uncontended path
    never stops at the LockManager; only a request that must wait becomes ``LockEnqueued`` there
    (told from the Store's thread, so it arrives before the ``LocksChanged`` that grants it)."""

    def applied(result: dict[str, Any] | None, error: SkyLockError | None) -> None:
        if error is not None:
            outbox.error(request.reply, error)
        elif acquire_waits(result, error):
            locks.tell(LockEnqueued(request, result, error))
        else:
            assert result is not None
            outbox.ok(request.reply, grant(request, str(result["lock_id"]), int(result["token"])))

    command = commands.lock_acquire(request.name, session_id=request.session_id, owner=request.owner,
                                    request_id=request.request_id, now_ms=int(time.time() * 1000),
                                    lock_delay_ms=request.lock_delay_ms)
    raft.tell(Propose(command, Waiter(request.reply, "lock.acquire", applied), deadline=deadline))


class LockManager(NodeActor):
    def __init__(self, node_id: int, outbox: Outbox, request_timeout: float) -> None:
        super().__init__(node_id)
        self.outbox = outbox
        self.request_timeout = request_timeout
        self.raft: pykka.ActorRef[Any] | None = None
        self._waiting: dict[str, dict[str, list[_QueuedWait]]] = {}  # name -> entry -> waiters
        self._delays: dict[str, _Delay] = {}  # name -> its pending lock-delay, as applied here
        self._is_leader = False
        self.handlers = {
            LockEnqueued: self._on_enqueued,
            LocksChanged: self._on_locks_changed,
            CheckLocks: self._on_check,
            LeadershipChanged: self._on_leadership,
        }

    def connect(self, raft: pykka.ActorRef[Any]) -> None:
        self.raft = raft

    def _propose(self, command: dict[str, Any], leader_only: bool = False) -> None:
        """A proposal nobody waits for (its effect is observed through ``LocksChanged``);
        RaftNode proposes it until it commits (or, ``leader_only``, until this node stops leading)."""
        assert self.raft is not None
        self.raft.tell(Propose(command, leader_only=leader_only))

    # ---- acquire --------------------------------------------------------------------

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
        waiter = _QueuedWait(request, entry, lock_id, token, deadline)
        if deadline <= time.monotonic():
            self._time_out(waiter)
            return
        self._waiting.setdefault(request.name, {}).setdefault(entry, []).append(waiter)

    def _grant(self, request: WaitForLock, lock_id: str, token: int) -> None:
        self.outbox.ok(request.reply, grant(request, lock_id, token))

    # ---- changes of the applied lock queues ----------------------------------------------------

    def _on_locks_changed(self, msg: LocksChanged) -> None:
        for name, change in msg.locks.items():
            self._track_delay(name, change.delay)
            waiting = self._waiting.get(name, {})
            for entry in list(waiting):
                if entry == change.holder:
                    for waiter in waiting.pop(entry):
                        self._grant(waiter.request, waiter.lock_id, waiter.token)
                elif change.gone(entry):
                    for waiter in waiting.pop(entry):
                        self.outbox.error(waiter.request.reply, SessionExpired(
                            f"the request for lock {name} was removed (its session ended)",
                            session_id=waiter.request.session_id,
                        ))
            if not waiting:
                self._waiting.pop(name, None)

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
                pending.due = None  # RaftNode proposes it until it commits, while this node leads
                self._propose(commands.lock_delay_end(name, since=pending.since), leader_only=True)

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

    def _time_out(self, waiter: _QueuedWait, cancel: bool = True) -> None:
        """Answer Timeout and remove the waiter's node through the log (RaftNode proposes the
        removal until it commits: a node left behind would later be granted to a client that gave up)."""
        request = waiter.request
        self.outbox.error(request.reply, Timeout(
            f"lock {request.name} not acquired within {request.timeout_ms} ms", name=request.name,
        ))
        if cancel:
            self._propose(commands.lock_release(request.name, session_id=request.session_id, lock_id=waiter.lock_id))
