"""Pipelined requests: many in flight on one connection, each answered through a
``concurrent.futures.Future``, with the synchronous path's failover rule.

Why a module of its own: the synchronous path retries in a loop on the caller's
thread; here no thread waits per request. Each attempt goes through the
connection's I/O-thread socket (``Connection.request``), whose replies are matched
to requests by id, so any number may be in flight on one socket. Requests posted
before the I/O thread wakes are all sent in that one wake-up (``IOThread`` drains
its whole outbox per wake-up and ZeroMQ writes the queued frames together): that
is the coalescing; the wire format is unchanged, one frame per request.

Threads. An attempt is answered on the connection's I/O thread, which must never
block, so the answer is only queued there (``_Attempt``, no future per attempt). One
pipeline thread per client (started at the first async request) then applies the retry rule, re-issues
what may be sent again, fires deadlines, and completes the caller's future. So the
callbacks a caller adds with ``add_done_callback`` run on that pipeline thread (or
at once on the adding thread if the future is already done): a slow callback
delays other async results of the same client, never the socket's I/O.

The retry rule is ``Client.call``'s: a request is sent again only when it cannot
have taken effect (``ConnectionLost(sent=False)``, ``NoLeader``) or when its op is
idempotent; a request never sent goes at once to the next server, the others after
the pause the client's ``RetryPolicy`` sets. At the client's ``request_timeout`` the caller's future fails with the
last ``NoLeader`` seen, or with ``Timeout`` if an attempt is still unanswered (the
server then counts as gone: the connection is dropped, as the synchronous path does).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from skylock.client.retry import GIVE_UP, RETRY_NOW, Attempts
from skylock.errors import ConnectionLost, NoLeader, SkyLockError, Timeout

if TYPE_CHECKING:
    from skylock.client.connection import Connection
    from skylock.client.failover import Failover

log = logging.getLogger("skylock.client")

#: A reply's result -> the value the caller's future holds (the sync op's return value).
Shape = Callable[[Any], Any]


@dataclass(eq=False)
class _Pending:
    """One async request across its attempts."""

    op: str
    args: dict[str, Any]
    shape: Shape
    future: Future[Any]
    attempts: Attempts  # the client's retry policy at work: pauses, tries, the deadline
    idempotent: bool
    conn: "Connection | None" = None
    attempt: "_Attempt | None" = None  # the attempt in flight, if any
    no_leader: NoLeader | None = None  # the last NoLeader a server answered
    last_error: SkyLockError | None = None


class _Attempt:
    """One try of a request on one connection, and what the connection answers it with
    (``Connection.send``'s reply target): the outcome is queued for the pipeline thread.
    Cheaper than a ``Future`` per try, which the pipeline never waits on."""

    __slots__ = ("pipeline", "pending", "conn", "request_id", "ok", "value")

    def __init__(self, pipeline: "Pipeline", pending: _Pending, conn: "Connection") -> None:
        self.pipeline, self.pending, self.conn = pipeline, pending, conn
        self.request_id: int | None = None
        self.ok: bool | None = None  # None until answered
        self.value: Any = None

    def done(self) -> bool:
        return self.ok is not None

    def set_result(self, result: Any) -> None:
        self._answer(True, result)

    def set_exception(self, exception: BaseException) -> None:
        self._answer(False, exception)

    def _answer(self, ok: bool, value: Any) -> None:
        if self.ok is None:  # once: the connection completes a target at most once anyway
            self.ok, self.value = ok, value
            self.pipeline._queue(self)

    def withdraw(self) -> None:
        """The deadline passed: the connection forgets it (and does not send it if it has not)."""
        if self.request_id is not None:
            self.conn.withdraw(self.request_id)


@dataclass(order=True)
class _Timer:
    when: float
    seq: int
    kind: str = field(compare=False)  # "retry" or "deadline"
    pending: _Pending = field(compare=False)


class Pipeline:
    """The async requests of one ``Client`` and the thread that settles them."""

    def __init__(self, failover: "Failover", idempotent: frozenset[str]) -> None:
        self._failover = failover
        self._idempotent = idempotent
        self._cond = threading.Condition(threading.Lock())
        self._done: deque[_Attempt] = deque()  # answered attempts to settle
        #: every request's deadline, in the order they were made, which is their deadlines'
        #: order (one retry policy per client): expiring is O(1) per request, not a heap's
        #: O(log n) of every request made in the last ``request_timeout``
        self._deadlines: deque[_Pending] = deque()
        self._timers: list[_Timer] = []  # retries (and a deadline out of order)
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._closing = False

    def submit(self, op: str, args: dict[str, Any], shape: Shape) -> Future[Any]:
        """Send ``op`` now; the returned future (already running: it cannot be cancelled,
        the request may be on the wire) gets ``shape(result)`` or the typed error."""
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        pending = _Pending(op, args, shape, future, self._failover.retry.start(), op in self._idempotent)
        with self._cond:
            if self._closing:
                future.set_exception(ConnectionLost("this client is closed", sent=False, closed=True))
                return future
            self._start_locked()
            self._schedule_deadline_locked(pending)
        self._issue(pending)
        return future

    def close(self) -> None:
        """Settle what is queued, fail what still waits (``ConnectionLost``), stop the thread.
        Call after the client's connections are closed, so no attempt is left in flight."""
        with self._cond:
            self._closing = True
            thread = self._thread
            self._cond.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    # ---- attempts -------------------------------------------------------------------------

    def _issue(self, pending: _Pending) -> None:
        """One attempt on the op's connection (a write's goes to the leader, skylock/client/leader_route.py);
        never blocks on the network, but for the lookup of the leader when one is due."""
        try:
            pending.conn = self._failover.connection()
        except SkyLockError as err:  # the client is closed
            self._finish(pending, error=err)
            return
        try:
            conn = pending.conn = self._failover.connection_for(pending.op, pending.conn)
        except ConnectionLost as err:  # the lookup found the server gone: not sent
            self._retry_or_fail(pending, err)
            return
        attempt = pending.attempt = _Attempt(self, pending, conn)
        try:
            attempt.request_id = conn.send(pending.op, pending.args, attempt)
        except Exception as err:  # noqa: BLE001 - e.g. args the codec cannot encode
            pending.attempt = None
            self._finish(pending, error=err)

    def _queue(self, attempt: _Attempt) -> None:
        """On the I/O thread (usually): hand the answered attempt to the pipeline thread."""
        with self._cond:
            self._done.append(attempt)
            self._cond.notify()

    def _settle(self, pending: _Pending, attempt: _Attempt) -> None:
        if pending.future.done() or attempt is not pending.attempt:
            return  # timed out already, or a stale attempt
        pending.attempt = None
        if attempt.ok:
            self._finish(pending, result=attempt.value)
        elif isinstance(attempt.value, SkyLockError):
            self._retry_or_fail(pending, attempt.value)
        else:
            self._finish(pending, error=attempt.value)

    def _retry_or_fail(self, pending: _Pending, err: SkyLockError) -> None:
        """The client's retry rule and policy (``skylock.client.retry``), one failed attempt at a time."""
        pending.last_error = err
        if isinstance(err, NoLeader):
            pending.no_leader = err
            if pending.conn is not None:
                self._failover.leader_refused(pending.conn)
        verdict = pending.attempts.after_failure(
            err, idempotent=pending.idempotent, closed=self._failover.closed, no_leader=pending.no_leader,
            several_servers=len(self._failover.servers) > 1)
        if verdict.drop_connection and pending.conn is not None:
            self._failover.drop(pending.conn)
        if verdict.action == GIVE_UP:
            return self._finish(pending, error=verdict.error)
        if verdict.action == RETRY_NOW:
            return self._issue(pending)  # the next server, at once
        return self._retry_later(pending)

    def _retry_later(self, pending: _Pending) -> None:
        with self._cond:
            self._schedule_locked(time.monotonic() + pending.attempts.take_delay(), "retry", pending)

    def _expire(self, pending: _Pending) -> None:
        """The deadline passed: an unanswered attempt is a ``Timeout`` (effect unknown)."""
        attempt, conn = pending.attempt, pending.conn
        if attempt is not None:
            pending.attempt = None
            attempt.withdraw()
            if conn is not None:
                self._failover.drop(conn)  # the server stopped answering in time
            address = conn.address if conn is not None else "the server"
            self._finish(pending, error=Timeout(
                f"no reply from {address} to {pending.op} in time; its effect is unknown", sent=True))
            return
        self._finish(pending, error=pending.no_leader or pending.last_error
                     or Timeout(f"{pending.op} not sent in time", sent=False))

    def _finish(self, pending: _Pending, *, result: Any = None, error: BaseException | None = None) -> None:
        if pending.future.done():
            return
        if error is None:
            try:
                result = pending.shape(result)
            except Exception as err:  # noqa: BLE001 - a malformed reply
                error = err
        pending.args = {}  # the deadline timer keeps the record a while: not its data
        if error is not None:
            pending.future.set_exception(error)
        else:
            pending.future.set_result(result)

    # ---- the pipeline thread --------------------------------------------------------------

    def _start_locked(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="skylock-pipeline", daemon=True)
            self._thread.start()

    def _schedule_locked(self, when: float, kind: str, pending: _Pending) -> None:
        heapq.heappush(self._timers, _Timer(when, next(self._seq), kind, pending))
        if self._timers[0].pending is pending:
            self._cond.notify()  # an earlier wake-up than the thread planned

    def _schedule_deadline_locked(self, pending: _Pending) -> None:
        deadline = pending.attempts.deadline
        self._trim_deadlines_locked()
        if self._deadlines and deadline < self._deadlines[-1].attempts.deadline:
            self._schedule_locked(deadline, "deadline", pending)  # not after the last: keep the queue sorted
            return
        self._deadlines.append(pending)
        if len(self._deadlines) == 1:
            self._cond.notify()  # the thread may plan no wake-up, or a later one

    def _trim_deadlines_locked(self) -> None:
        """Forget the deadlines of finished requests at the front of the queue."""
        deadlines = self._deadlines
        while deadlines and deadlines[0].future.done():
            deadlines.popleft()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._done and not self._closing and not self._due_locked():
                    self._cond.wait(self._wait_locked())
                done, self._done = self._done, deque()
                closing = self._closing
                due = self._pop_due_locked(closing)
            for attempt in done:
                self._step(self._settle, attempt.pending, attempt)
            for kind, pending in due:
                if pending.future.done():
                    continue
                if closing:
                    self._finish(pending, error=ConnectionLost("this client is closed", closed=True))
                elif kind == "retry":
                    self._step(self._issue, pending)
                else:
                    self._step(self._expire, pending)
            if closing:
                with self._cond:
                    if not self._done:
                        return

    def _step(self, fn: Callable[..., None], pending: _Pending, *args: Any) -> None:
        try:
            fn(pending, *args)
        except Exception as err:  # noqa: BLE001 - one request's failure must not stop the thread
            log.exception("async %s failed", pending.op)
            self._finish(pending, error=err)

    def _next_due_locked(self) -> float:
        """When the earliest timer or unfinished request's deadline is due (inf: none is)."""
        self._trim_deadlines_locked()
        first = self._deadlines[0].attempts.deadline if self._deadlines else math.inf
        return min(first, self._timers[0].when) if self._timers else first

    def _due_locked(self) -> bool:
        return self._next_due_locked() <= time.monotonic()

    def _wait_locked(self) -> float | None:
        """How long the thread may sleep before something is due (None: until notified)."""
        when = self._next_due_locked()
        return None if when == math.inf else max(0.0, when - time.monotonic())

    def _pop_due_locked(self, everything: bool) -> list[tuple[str, _Pending]]:
        now = time.monotonic()
        due = []
        while self._timers and (everything or self._timers[0].when <= now):
            timer = heapq.heappop(self._timers)
            due.append((timer.kind, timer.pending))
        deadlines = self._deadlines
        while deadlines and (everything or deadlines[0].attempts.deadline <= now):
            due.append(("deadline", deadlines.popleft()))
        return due
