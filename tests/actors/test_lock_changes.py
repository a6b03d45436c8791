"""What the Store tells the LockManager after an apply costs O(1) of a lock's queue, and the
LockManager answers its waiters from it: a grant when the entry comes to hold the lock, an
error when it leaves the queue (an event says so, or a restored snapshot no longer has it)."""

from __future__ import annotations

import threading
import time
from typing import Any

from skylock.actors.lock_manager import LockManager
from skylock.actors.messages import LockChange, LockEnqueued, LocksChanged, WaitForLock
from skylock.errors import SessionExpired
from skylock.state import StateMachine, commands
from skylock.state.events import EventType, WatchEvent
from skylock.state.locks import changed_by


class _Outbox:
    """Records every answer, by the reply it was for."""

    def __init__(self) -> None:
        self.answers: dict[Any, tuple[str, Any]] = {}
        self._lock = threading.Lock()

    def ok(self, reply: Any, result: Any) -> None:
        with self._lock:
            self.answers[reply] = ("ok", result)

    def error(self, reply: Any, err: Any) -> None:
        with self._lock:
            self.answers[reply] = ("error", err)


def _queued(manager: Any, reply: str, entry: str) -> None:
    request = WaitForLock(reply=reply, name="db", session_id="s", owner="o", request_id=reply,
                          timeout_ms=60_000, started=time.monotonic())
    manager.ask(LockEnqueued(request, {"entry": entry, "lock_id": f"{entry}.mac", "token": 7, "holder": False}, None))


def test_a_waiter_is_granted_when_its_entry_holds_and_failed_when_it_leaves() -> None:
    outbox = _Outbox()
    manager = LockManager.start(1, outbox, 5.0)
    try:
        for reply, entry in (("a", "lock-0000000002"), ("b", "lock-0000000003"), ("c", "lock-0000000004")):
            _queued(manager, reply, entry)
        manager.ask(LocksChanged({"db": LockChange("lock-0000000001", None, 4)}))
        assert outbox.answers == {}  # nothing about them changed
        manager.ask(LocksChanged({"db": LockChange("lock-0000000002", None, 2,
                                                   left=frozenset({"lock-0000000001", "lock-0000000003"}))}))
        assert outbox.answers["a"][0] == "ok" and outbox.answers["a"][1]["lock_id"] == "lock-0000000002.mac"
        assert outbox.answers["b"][0] == "error" and isinstance(outbox.answers["b"][1], SessionExpired)
        assert "c" not in outbox.answers  # still queued
        manager.ask(LocksChanged({"db": LockChange("lock-0000000002", None, 1, queue=frozenset({"lock-0000000002"}))}))
        assert outbox.answers["c"][0] == "error"  # a restored snapshot no longer has it
    finally:
        manager.stop()


def _event(kind: EventType, path: str) -> WatchEvent:
    return WatchEvent(type=kind, path=path, zxid=1)


def test_changed_by_names_each_lock_touched_and_the_entries_deleted() -> None:
    events = [
        _event(EventType.CREATED, "/locks/db/lock-0000000005"),
        _event(EventType.DELETED, "/locks/db/lock-0000000001"),
        _event(EventType.DELETED, "/locks/jobs/delay"),
        _event(EventType.DATA_CHANGED, "/app/config"),
        _event(EventType.DELETED, "/locks/db"),
    ]
    assert changed_by(events) == {"db": {"lock-0000000001"}, "jobs": {"delay"}}


def test_lock_standing_is_the_holder_the_delay_and_the_queue_length() -> None:
    sm = StateMachine()
    index = iter(range(1, 1000))

    def apply(command: dict[str, Any]) -> Any:
        applied = sm.apply(next(index), command)
        assert applied.error is None, applied.error
        return applied.result

    sessions = [f"secret-{i}" for i in range(3)]
    for session in sessions:
        apply(commands.open_session(session, "client", 30_000, now_ms=0))
    entries = [apply(commands.lock_acquire("db", session_id=s, owner="o", request_id=f"r{i}", now_ms=0))["entry"]
               for i, s in enumerate(sessions)]
    assert sm.lock_standing("db") == (entries[0], None, 3)
    assert sm.lock_entries("db") == entries
    assert sm.lock_standing("none") == (None, None, 0)
