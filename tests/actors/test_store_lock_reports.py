"""The Store tells the LockManager of a lock's changes only when they concern it: a lock with
a wait handed to this node's LockManager, or a lock-delay starting or ending. An uncontended
acquire and release wake nobody, and each report is O(1) of the lock's queue."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pykka

from skylock.actors.messages import ApplyEntries, LockChange, LocksChanged, Waiter
from skylock.actors.outbox import Outbox
from skylock.actors.store import Store
from skylock.raft import Entry
from skylock.state import StateMachine, commands
from skylock.state.envelope import encode_entry


class Recorder(pykka.ThreadingActor):
    """Stands in for the actors the Store tells; keeps every message it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        if message == "got":
            return list(self.got)
        self.got.append(message)
        return None


class FedStore:
    """A Store fed committed entries one at a time, as RaftNode would, with this node's waiters."""

    def __init__(self) -> None:
        self.actor = Store.start(1, StateMachine(), 0, Outbox(lambda conn, frames: None), 10**9, 10**12)
        self.others = [Recorder.start() for _ in range(4)]  # raft, watches, sessions, locks
        self.actor.proxy().connect(*self.others).get()
        self.index = itertools.count(1)
        self.results: dict[int, Any] = {}
        self.mutex = threading.Lock()

    def apply(self, command: dict[str, Any]) -> Any:
        index = next(self.index)

        def on_result(result: Any, error: Any) -> None:
            with self.mutex:
                self.results[index] = error or result

        entry = Entry(term=1, index=index, data=encode_entry(1, index, command))
        self.actor.ask(ApplyEntries((entry,), {index: Waiter(f"reply-{index}", command["op"], on_result)}))
        with self.mutex:
            return self.results[index]

    def lock_reports(self) -> list[dict[str, LockChange]]:
        return [m.locks for m in self.others[3].ask("got") if isinstance(m, LocksChanged)]

    def stop(self) -> None:
        self.actor.stop()
        for other in self.others:
            other.stop()


def acquire(store: FedStore, name: str, session: str, **kwargs: Any) -> dict[str, Any]:
    return store.apply(commands.lock_acquire(name, session_id=session, owner=session, request_id=name,
                                             now_ms=0, **kwargs))


def test_only_waits_and_delays_are_reported_to_the_lock_manager() -> None:
    store = FedStore()
    try:
        for session in ("s1", "s2", "s3"):
            store.apply(commands.open_session(session, "client", 30_000, now_ms=0))
        held = acquire(store, "free", "s1")
        store.apply(commands.lock_release("free", session_id="s1", lock_id=held["lock_id"]))
        assert store.lock_reports() == []  # uncontended: the LockManager is not woken

        first = acquire(store, "busy", "s1")
        second = acquire(store, "busy", "s2")  # waits: handed to the LockManager
        assert not second["holder"]
        store.apply(commands.lock_release("busy", session_id="s1", lock_id=first["lock_id"]))
        granted = store.lock_reports()[-1]["busy"]
        assert granted.holder == second["entry"] and granted.left == {first["entry"]} and granted.queued == 1
        store.apply(commands.lock_release("busy", session_id="s2", lock_id=second["lock_id"]))
        assert store.lock_reports()[-1]["busy"] == LockChange(None, None, 0, frozenset({second["entry"]}))
        reports = len(store.lock_reports())
        again = acquire(store, "busy", "s1")  # its queue emptied: uncontended again
        store.apply(commands.lock_release("busy", session_id="s1", lock_id=again["lock_id"]))
        assert len(store.lock_reports()) == reports

        acquire(store, "delayed", "s3", lock_delay_ms=5000)
        store.apply(commands.expire_session(["s3"]))  # the holder's session expires: a delay starts
        delayed = store.lock_reports()[-1]["delayed"]
        assert delayed.holder is None and delayed.delay is not None and delayed.queued == 0
        store.apply(commands.lock_delay_end("delayed", since=delayed.delay["since"]))
        assert store.lock_reports()[-1]["delayed"] == LockChange(None, None, 0, frozenset({"delay"}))
    finally:
        store.stop()
