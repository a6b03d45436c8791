"""The session keeper: opens a client's session, keeps it alive with heartbeats from a
thread of its own, and tells the state listeners when it changes.

The states (as kazoo's): ``CONNECTED`` while heartbeats are answered; ``SUSPENDED``
when one failed and the next servers are being tried (the session may still be
alive); ``EXPIRED`` when the cluster says the session is gone, or its TTL passed
without an answer (the cluster may have ended it, so the client stops believing in
it); ``CLOSED`` after ``close``. A new state holds at once (``state``); listeners
hear of it on the client's event thread, in order with the watch callbacks.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from enum import Enum
from typing import Any, Callable

from skylock.client.events import EventThread
from skylock.client.failover import Failover
from skylock.client.retry import RetryPolicy
from skylock.errors import SessionExpired, SkyLockError

log = logging.getLogger("skylock.client")


class SessionState(str, Enum):
    CONNECTED = "connected"
    SUSPENDED = "suspended"  # no server answered lately; the session may still be alive
    EXPIRED = "expired"  # the cluster ended the session (or its TTL passed unheard)
    CLOSED = "closed"  # closed by this client


StateListener = Callable[[SessionState], None]


class SessionRecord(ABC):
    """A session's id, state and listeners: what ``Client``'s keeper (heartbeats on a thread)
    and ``AsyncClient``'s (a task) share. Subclasses say how listeners hear of a change."""

    def __init__(self) -> None:
        self.session_id: str | None = None
        self.state = SessionState.CLOSED
        self.listeners: list[StateListener] = []

    def require(self) -> str:
        """The session id, or ``SessionExpired`` when there is no live session."""
        if self.session_id is None or self.state in (SessionState.EXPIRED, SessionState.CLOSED):
            raise SessionExpired("this operation needs a live session: call start_session() first")
        return self.session_id

    def remove_listener(self, listener: StateListener) -> None:
        try:
            self.listeners.remove(listener)
        except ValueError:
            pass

    def _set_state(self, state: SessionState) -> None:
        if state == self.state:
            return
        self.state = state
        for listener in list(self.listeners):
            self._tell(listener, state)

    def _heartbeat_failed(self, err: SkyLockError, unheard: float, ttl: float) -> bool:
        """After a failed heartbeat (``unheard``: seconds since the last answered one was sent):
        ``SUSPENDED`` while the TTL may not have run out, else ``EXPIRED`` (True: stop beating)."""
        log.info("heartbeat failed (%s); trying the next server", err)
        if unheard >= ttl:
            self._set_state(SessionState.EXPIRED)
            return True
        self._set_state(SessionState.SUSPENDED)
        return False

    @abstractmethod
    def _tell(self, listener: StateListener, state: SessionState) -> None:
        """How a listener hears of a change (on the event thread, or on the loop)."""


def heartbeat_retries(policy: RetryPolicy, interval: float) -> RetryPolicy:
    """After a failed heartbeat: no end (the TTL decides) and at most half an interval's pause."""
    return policy.replace(tries=None, deadline=None, max_delay=min(policy.max_delay, interval / 2))


class SessionKeeper(SessionRecord):
    """One client's session: its id, its state, its heartbeat thread and its listeners."""

    def __init__(self, failover: Failover, events: EventThread) -> None:
        super().__init__()
        self._failover = failover
        self._events = events
        self._ttl = 0.0
        self._heartbeats: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self, client_id: str, ttl: float) -> str:
        """Open a session and keep it alive with heartbeats every TTL/3 in the background."""
        result = self._failover.call("session.open", {"client_id": client_id, "ttl_ms": int(ttl * 1000)})
        self.session_id = str(result["session_id"])
        self._ttl = int(result["ttl_ms"]) / 1000.0
        self._set_state(SessionState.CONNECTED)
        self._stop.clear()
        self._heartbeats = threading.Thread(target=self._heartbeat_loop, name="skylock-heartbeats", daemon=True)
        self._heartbeats.start()
        return self.session_id

    def _tell(self, listener: StateListener, state: SessionState) -> None:
        """The new state holds at once; the listeners hear of it on the event thread."""
        self._events.submit(listener, state)

    def _heartbeat_loop(self) -> None:
        """A heartbeat every TTL/3; after a failure, the next server after the retry policy's
        pause (at most half an interval), until the session's TTL has passed unheard."""
        failover = self._failover
        interval = self._ttl / 3
        retries = heartbeat_retries(failover.retry, interval)
        attempts = retries.start()
        last_ok = time.monotonic()
        while not self._stop.wait(interval if self.state == SessionState.CONNECTED else attempts.take_delay()):
            session_id = self.session_id
            if session_id is None:
                return
            try:
                conn = failover.connection()
                sent = time.monotonic()
                # half an interval per try: a paused node must not eat the TTL's margin
                failover.attempt(conn, "session.heartbeat", {"session_id": session_id},
                                 sent + min(failover.attempt_timeout, interval / 2))
                # the leader restarted the deadline at some point after `sent`: counting the
                # TTL from there, we never think the session alive after the cluster may not
                last_ok = sent
                attempts = retries.start()
                self._set_state(SessionState.CONNECTED)
            except SessionExpired:
                self._set_state(SessionState.EXPIRED)
                return
            except SkyLockError as err:
                if (current := failover.current) is not None:
                    failover.drop(current)
                if self._heartbeat_failed(err, time.monotonic() - last_ok, self._ttl):
                    return

    def heartbeat(self, session_id: str | None = None) -> dict[str, Any]:
        """Keep a session alive once (this client's own session by default)."""
        session_id = session_id or self.session_id
        if session_id is None:
            raise SessionExpired("no session to heartbeat")
        return dict(self._failover.call("session.heartbeat", {"session_id": session_id}) or {})

    def close(self) -> None:
        """Stop the heartbeats, then end the session on the cluster (its ephemerals go at once)."""
        self._stop.set()
        if self._heartbeats is not None:
            self._heartbeats.join(timeout=5)
        if self.session_id is not None and self.state not in (SessionState.EXPIRED, SessionState.CLOSED):
            try:
                self._failover.call("session.close", {"session_id": self.session_id})
            except SkyLockError as err:
                log.info("session close failed: %s", err)
            self._set_state(SessionState.CLOSED)
