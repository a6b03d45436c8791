"""A lock operation's cost does not grow with the lock's queue: the same lines of
skylock code run, and nothing longer than one entry is sorted, with 10 or 10,000 waiters."""

from __future__ import annotations

import builtins
import sys
from pathlib import Path
from types import FrameType
from typing import Any, Callable

import skylock
from skylock.state import commands

from .conftest import Driver

SKYLOCK_DIR = str(Path(skylock.__file__).parent)


def queued_behind(waiters: int) -> tuple[Driver, dict[str, dict[str, Any]]]:
    """Lock ``db`` held by ``h`` (with a lock-delay), then ``g``, then ``waiters`` entries of ``w``."""
    d = Driver()
    for sid in ["h", "g", "w", "a"]:
        d.open(sid)
    entries = {"h": d.ok(commands.lock_acquire("db", session_id="h", owner="h", request_id="r",
                                               lock_delay_ms=500, now_ms=d.now_ms)),
               "g": d.acquire("db", "g")}
    d.ok(commands.multi([d.create("/locks/db/lock-", ephemeral=True, sequential=True, session_id="w")] * waiters,
                        now_ms=d.now_ms))
    return d, entries


def lock_ops(d: Driver, entries: dict[str, dict[str, Any]]) -> list[Callable[[], dict[str, Any]]]:
    """Every lock operation but ``lock.info`` (which lists the queue), in an order that
    makes each do its real work: enqueue, retry, fence check, release by a waiter, expiry
    of the holder (a delay), the delay's end (a grant), release by the holder (a grant); then
    the lock's standing, which the Store reads after every apply that touches the lock."""
    def release(sid: str) -> dict[str, Any]:
        return d.ok(commands.lock_release("db", session_id=sid, lock_id=entries[sid]["lock_id"]))

    def check_held() -> dict[str, Any]:
        return d.ok(commands.multi([commands.check_lock("db", token=entries["h"]["token"], session_id="h")],
                                   now_ms=d.now_ms))

    def end_delay() -> dict[str, Any]:
        since = d.sm._tree.nodes["/locks/db/delay"].czxid  # not lock.info: that lists the queue
        return d.ok(commands.lock_delay_end("db", since=since))

    return [
        lambda: entries.setdefault("a", d.acquire("db", "a")),
        lambda: d.acquire("db", "a", request_id="retry"),
        check_held,
        lambda: release("a"),
        lambda: d.ok(commands.expire_session(["h"])),
        end_delay,
        lambda: release("g"),
        lambda: {"standing": d.sm.lock_standing("db")},  # what the Store reads after each of them
    ]


def measure(op: Callable[[], dict[str, Any]], monkeypatch) -> tuple[int, int, dict[str, Any]]:
    """Lines of skylock code ``op`` runs, the longest input it sorts, and its result."""
    lines = 0
    longest_sorted = 0
    real_sorted = builtins.sorted

    def counting_sorted(iterable, *args, **kwargs):
        nonlocal longest_sorted
        items = list(iterable)
        longest_sorted = max(longest_sorted, len(items))
        return real_sorted(items, *args, **kwargs)

    def local(frame: FrameType, event: str, arg: object):
        nonlocal lines
        lines += event == "line"
        return local

    def tracer(frame: FrameType, event: str, arg: object):
        return local if frame.f_code.co_filename.startswith(SKYLOCK_DIR) else None

    monkeypatch.setattr(builtins, "sorted", counting_sorted)
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        result = op()
    finally:
        sys.settrace(previous)
        monkeypatch.setattr(builtins, "sorted", real_sorted)
    return lines, longest_sorted, result


def test_lock_operations_cost_the_same_with_10_or_10000_waiters(monkeypatch):
    costs = {}
    for waiters in (10, 10_000):
        d, entries = queued_behind(waiters)
        measured = [measure(op, monkeypatch) for op in lock_ops(d, entries)]
        costs[waiters] = [lines for lines, _, _ in measured]
        assert max(longest for _, longest, _ in measured) <= 1  # a session's one ephemeral, one lock
        results = [result for _, _, result in measured]
        assert results[0]["predecessor"] == f"lock-{waiters + 1:010d}"  # behind the last waiter
        assert results[4]["lock_grants"] == []  # delayed: nobody holds it yet
        assert results[5]["next_holder"]["session"] == d.public("g")
        assert results[6]["next_holder"]["entry"] == "lock-0000000002"  # w's first entry
        assert results[7]["standing"] == ("lock-0000000002", None, waiters)
    assert all(costs[10]), costs
    assert costs[10] == costs[10_000]
