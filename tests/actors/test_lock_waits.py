"""This node's waiting lock requests (``LockWaits``, the Store's): what each change of a lock's
applied queue answers (a grant when the entry comes to hold the lock, an error when it leaves
the queue, an event saying so or a restored snapshot no longer having it), timeouts, and the
O(1)-of-the-queue report the changes come from."""

from __future__ import annotations

from typing import Any

from skylock.actors.lock_waits import LockWaits, acquire_waits
from skylock.actors.messages import LockChange, WaitForLock
from skylock.state import StateMachine, commands
from skylock.state.events import EventType, WatchEvent
from skylock.state.locks import changed_by

E1, E2, E3, E4 = (f"lock-000000000{i}" for i in range(1, 5))


def _request(reply: str, started: float = 0.0, timeout_ms: int = 60_000) -> WaitForLock:
    return WaitForLock(reply=reply, name="db", session_id="s", owner="o", request_id=reply,
                       timeout_ms=timeout_ms, started=started)


def _waiting(waits: LockWaits, reply: str, entry: str, **kwargs: Any) -> None:
    waits.add(_request(reply, **kwargs), {"entry": entry, "lock_id": f"{entry}.mac", "token": 7, "holder": False})


def _replies(settled: list[Any]) -> list[str]:
    return [w.request.reply for w in settled]


def test_a_wait_is_granted_when_its_entry_holds_and_failed_when_it_leaves() -> None:
    waits = LockWaits()
    for reply, entry in (("a", E2), ("b", E3), ("c", E4)):
        _waiting(waits, reply, entry)
    nothing = waits.settle("db", LockChange(E1, None, 4))
    assert nothing.granted == [] and nothing.gone == []  # nothing about them changed

    settled = waits.settle("db", LockChange(E2, None, 2, left=frozenset({E1, E3})))
    assert _replies(settled.granted) == ["a"] and _replies(settled.gone) == ["b"]
    assert settled.granted[0].grant() == {"name": "db", "lock_id": f"{E2}.mac", "token": 7, "owner": "o",
                                          "session_id": "s"}
    assert "db" in waits and len(waits) == 1  # c still waits

    restored = waits.settle("db", LockChange(E2, None, 1, queue=frozenset({E2})))
    assert _replies(restored.gone) == ["c"]  # a restored snapshot no longer has it
    assert "db" not in waits and len(waits) == 0


def test_every_request_for_one_entry_is_answered() -> None:
    """A client that failed over sends the same request again: one entry, two waits here."""
    waits = LockWaits()
    _waiting(waits, "first", E2)
    _waiting(waits, "again", E2)
    assert _replies(waits.settle("db", LockChange(E2, None, 1, left=frozenset({E1}))).granted) == ["first", "again"]


def test_a_timed_out_wait_is_answered_and_its_entry_cancelled_once_nobody_waits_on_it() -> None:
    waits = LockWaits()
    _waiting(waits, "short", E2, started=100.0, timeout_ms=1_000)
    _waiting(waits, "long", E2, started=100.0, timeout_ms=5_000)
    _waiting(waits, "other", E3, started=100.0, timeout_ms=1_000)
    assert waits.expire(100.5) == ([], [])

    expired, cancel = waits.expire(101.0)
    assert sorted(_replies(expired)) == ["other", "short"]
    assert [w.entry for w in cancel] == [E3]  # E2 is still waited on by "long"
    assert cancel[0].cancel() == commands.lock_release("db", session_id="s", lock_id=f"{E3}.mac")

    expired, cancel = waits.expire(105.0)
    assert _replies(expired) == ["long"] and [w.entry for w in cancel] == [E2]
    assert "db" not in waits


def test_an_acquire_waits_unless_it_failed_or_holds() -> None:
    assert acquire_waits({"holder": False, "entry": E2}, None)
    assert not acquire_waits({"holder": True, "entry": E1}, None)
    assert not acquire_waits(None, object())  # type: ignore[arg-type]


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
