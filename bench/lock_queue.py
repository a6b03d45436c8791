"""Cost of lock.acquire and lock.release against the length of the lock's queue.

Applies commands to a bare StateMachine (no Raft, no I/O): a lock ``db`` with
``length`` entries queued, then a session that enqueues behind them and releases,
over and over. Two variants:

- ``index``: the lock queues kept by the tree (``skylock/state/lock_queues.py``);
- ``sorting``: the rule as it was before that index: every read of a queue sorts
  and filters the lock directory's children, and a session's entry is found by
  sorting its ephemerals (``SortingQueues`` below, with the tree keeping no index).

Both must give the same results; the script checks that before it reports.

    python bench/lock_queue.py [--lengths 1,100,10000] [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

from skylock.state import StateMachine, commands, locks
from skylock.state.lock_queues import ENTRY
from skylock.state.paths import split_path
from skylock.state.tree import DataTree


class SortingQueues:
    """The reads of ``LockQueues``, answered the old way: by sorting on every call."""

    def __init__(self, tree: DataTree) -> None:
        self.tree = tree

    def entries(self, directory: str) -> list[str]:
        node = self.tree.node(directory)
        if node is None:
            return []
        return sorted(child for child in node.children
                      if ENTRY.fullmatch(child) and self.tree.nodes[f"{directory}/{child}"].ephemeral_owner)

    def first(self, directory: str) -> str | None:
        queue = self.entries(directory)
        return queue[0] if queue else None

    def predecessor(self, directory: str, name: str) -> str | None:
        queue = self.entries(directory)
        position = queue.index(name)
        return queue[position - 1] if position else None

    def entry_of(self, directory: str, owner: str) -> str | None:
        for path in self.tree.ephemerals_of(owner):
            parent, entry_name = split_path(path)
            if parent == directory and ENTRY.fullmatch(entry_name):
                return entry_name
        return None


ORIGINAL = (locks.new_tree, locks._queues)


def use_sorting(enabled: bool) -> None:
    """Switch the locks module between its index and the sorting reference."""
    if enabled:
        locks.new_tree = DataTree  # type: ignore[assignment]
        locks._queues = SortingQueues  # type: ignore[assignment]
    else:
        locks.new_tree, locks._queues = ORIGINAL


class Bench:
    """A state machine with ``length`` entries queued on lock ``db``."""

    def __init__(self, length: int) -> None:
        self.sm = StateMachine()
        self.zxid = 0
        for sid in ("w", "a"):
            self.apply(commands.open_session(sid, "bench", 60_000, now_ms=0))
        queued = [commands.create("/locks/db/lock-", ephemeral=True, sequential=True, session_id="w", now_ms=0)]
        self.apply(commands.create("/locks", now_ms=0))
        self.apply(commands.create("/locks/db", now_ms=0))
        if length:
            self.apply(commands.multi(queued * length, now_ms=0))

    def apply(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.zxid += 1
        applied = self.sm.apply(self.zxid, cmd)
        assert applied.error is None, applied.error
        return applied.result  # type: ignore[return-value]

    def acquire(self) -> dict[str, Any]:
        return self.apply(commands.lock_acquire("db", session_id="a", owner="a", request_id="r", now_ms=0))

    def release(self, lock_id: str) -> dict[str, Any]:
        return self.apply(commands.lock_release("db", session_id="a", lock_id=lock_id))


def run(length: int, seconds: float) -> tuple[float, float, list[dict[str, Any]]]:
    """Microseconds per acquire and per release, and the first pair's results."""
    bench = Bench(length)
    first = [bench.acquire()]
    first.append(bench.release(first[0]["lock_id"]))
    spent = {"acquire": 0.0, "release": 0.0}
    rounds = 0
    while spent["acquire"] + spent["release"] < seconds or rounds < 3:
        acquired = timed(bench.acquire, spent, "acquire")
        timed(lambda: bench.release(acquired["lock_id"]), spent, "release")
        rounds += 1
    return spent["acquire"] / rounds * 1e6, spent["release"] / rounds * 1e6, first


def timed(op: Callable[[], dict[str, Any]], spent: dict[str, float], key: str) -> dict[str, Any]:
    start = time.perf_counter()
    result = op()
    spent[key] += time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="1,100,10000", help="queue lengths, comma-separated")
    parser.add_argument("--seconds", type=float, default=0.5, help="time spent per variant and length")
    args = parser.parse_args()
    print(f"{'queue':>7} {'variant':>8} {'acquire us/op':>14} {'release us/op':>14}")
    for length in (int(n) for n in args.lengths.split(",")):
        answers = []
        for sorting in (True, False):
            use_sorting(sorting)
            acquire_us, release_us, first = run(length, args.seconds)
            answers.append(first)
            print(f"{length:>7} {'sorting' if sorting else 'index':>8} {acquire_us:>14.1f} {release_us:>14.1f}")
        use_sorting(False)
        assert answers[0] == answers[1], f"the variants disagree at queue length {length}"


if __name__ == "__main__":
    main()
