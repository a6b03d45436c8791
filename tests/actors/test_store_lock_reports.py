"""The Store answers this node's lock waits on the apply that settles them (a grant, a
``SessionExpired``, a ``Timeout`` with the entry's removal proposed), and tells the LockManager
of a lock's changes only when a lock-delay starts or ends: an uncontended acquire and release,
and a contended hand-off, wake no other actor, and each report is O(1) of the lock's queue."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pykka

from skylock.actors.messages import (ApplyEntries, CheckLocks, LockChange, LocksChanged, Propose, ReplyTo,
                                     RestoreSnapshot, WaitForLock, Waiter)
from skylock.actors.outbox import Outbox
from skylock.actors.store import Store
from skylock.errors import SessionExpired, Timeout
from skylock.net import codec
from skylock.raft import Entry, Snapshot, SnapshotMeta
from skylock.state import StateMachine, commands
from skylock.state.applied_tags import AppliedTags
from skylock.state.envelope import encode_entry, encode_snapshot


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
        self.sent: dict[bytes, list[Any]] = {}  # connection -> the replies sent to it, decoded
        self.actor = Store.start(1, StateMachine(), 0, Outbox(self._record), 10**9, 10**12)
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

    def _record(self, conn_id: bytes, frame: bytes) -> None:
        with self.mutex:
            self.sent.setdefault(conn_id, []).append(codec.parse_server_frame(frame))

    def replies(self, conn_id: bytes) -> list[Any]:
        self.actor.ask(CheckLocks(0.0))  # times nothing out; what it was told before is handled now
        with self.mutex:
            return list(self.sent.get(conn_id, []))

    def acquire(self, name: str, session: str, conn_id: bytes, timeout_ms: int = 60_000) -> None:
        """A client's ``lock.acquire`` through this node, as the gateway proposes it."""
        index = next(self.index)
        reply = ReplyTo(conn_id, 1)
        request = WaitForLock(name, session, session, conn_id.decode(), timeout_ms, reply, time.monotonic())
        command = commands.lock_acquire(name, session_id=session, owner=session, request_id=conn_id.decode(), now_ms=0)
        entry = Entry(term=1, index=index, data=encode_entry(1, index, command))
        self.actor.ask(ApplyEntries((entry,), {index: Waiter(reply, "lock.acquire", lock_request=request)}))

    def proposed(self) -> list[dict[str, Any]]:
        return [m.command for m in self.others[0].ask("got") if isinstance(m, Propose)]

    def lock_reports(self) -> list[dict[str, LockChange]]:
        return [m.locks for m in self.others[3].ask("got") if isinstance(m, LocksChanged)]

    def stop(self) -> None:
        self.actor.stop()
        for other in self.others:
            other.stop()


def acquire(store: FedStore, name: str, session: str, **kwargs: Any) -> dict[str, Any]:
    return store.apply(commands.lock_acquire(name, session_id=session, owner=session, request_id=name,
                                             now_ms=0, **kwargs))


def test_the_store_answers_lock_waits_and_reports_only_delays() -> None:
    store = FedStore()
    try:
        for session in ("s1", "s2", "s3"):
            store.apply(commands.open_session(session, "client", 30_000, now_ms=0))
        held = acquire(store, "free", "s1")
        store.apply(commands.lock_release("free", session_id="s1", lock_id=held["lock_id"]))

        first = acquire(store, "busy", "s1")
        store.acquire("busy", "s2", b"c2")  # waits here
        assert store.replies(b"c2") == []
        store.apply(commands.lock_release("busy", session_id="s1", lock_id=first["lock_id"]))
        [granted] = store.replies(b"c2")  # on the apply of the release, from the Store itself
        assert granted.error is None and granted.result["name"] == "busy" and granted.result["session_id"] == "s2"
        assert granted.zxid is not None and granted.zxid > 0  # its client's reads never go back past it
        store.apply(commands.lock_release("busy", session_id="s2", lock_id=granted.result["lock_id"]))
        assert store.lock_reports() == []  # no delay started or ended: the LockManager is not woken

        acquire(store, "delayed", "s3", lock_delay_ms=5000)
        store.acquire("delayed", "s1", b"c1")  # waits behind s3
        store.apply(commands.expire_session(["s3"]))  # the holder's session expires: a delay starts
        delayed = store.lock_reports()[-1]["delayed"]
        assert delayed.holder is None and delayed.delay is not None and delayed.queued == 1
        assert store.replies(b"c1") == []  # still waiting: nobody holds a delayed lock
        store.apply(commands.lock_delay_end("delayed", since=delayed.delay["since"]))
        assert store.lock_reports()[-1]["delayed"].left == {"delay"}
        [after_delay] = store.replies(b"c1")
        assert after_delay.error is None and after_delay.result["session_id"] == "s1"
    finally:
        store.stop()


def test_a_wait_ends_with_its_session_or_its_timeout() -> None:
    store = FedStore()
    try:
        for session in ("s1", "s2", "s3", "s4"):
            store.apply(commands.open_session(session, "client", 30_000, now_ms=0))
        acquire(store, "db", "s1")
        store.acquire("db", "s2", b"c2")
        store.acquire("db", "s3", b"c3", timeout_ms=1_000)
        store.apply(commands.expire_session(["s2"]))
        [gone] = store.replies(b"c2")
        assert isinstance(gone.error, SessionExpired)

        store.actor.ask(CheckLocks(time.monotonic() + 3600))
        [timed_out] = store.replies(b"c3")
        assert isinstance(timed_out.error, Timeout)
        [cancel] = [c for c in store.proposed() if c["op"] == "lock.release"]
        assert cancel["session_id"] == "s3"  # its entry leaves the queue through the log

        store.acquire("db", "s4", b"now", timeout_ms=0)  # a non-blocking acquire: answered on its apply
        [refused] = store.replies(b"now")
        assert isinstance(refused.error, Timeout)
    finally:
        store.stop()


def test_a_restored_snapshot_without_the_lock_ends_its_waits() -> None:
    """A node far behind installs a snapshot in which the lock is gone altogether (its holder
    and waiters released it meanwhile): the waits here must not linger until their timeout."""
    store = FedStore()
    try:
        for session in ("s1", "s2"):
            store.apply(commands.open_session(session, "client", 30_000, now_ms=0))
        acquire(store, "db", "s1")
        store.acquire("db", "s2", b"c2")
        assert store.replies(b"c2") == []
        later = StateMachine()  # the cluster's state further on: no lock "db" at all
        snapshot = Snapshot(SnapshotMeta(index=1000, term=1), encode_snapshot(later.snapshot(), AppliedTags()))
        store.actor.tell(RestoreSnapshot(snapshot))
        [gone] = store.replies(b"c2")
        assert isinstance(gone.error, SessionExpired)
    finally:
        store.stop()
