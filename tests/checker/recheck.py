"""Re-check a history written by a failed fault run: ``python -m tests.checker.recheck FILE``.

Runs every checker whose data the file holds and prints the verdicts; exit status 1
on any violation.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.checker.history import History
from tests.checker.linearizability import check_history, explain
from tests.checker.promises import check_durability, check_locks, check_sessions, check_watches


def recheck(history: History) -> list[str]:
    problems: list[str] = []
    if any(op.f in ("read", "write", "cas") for op in history.ops):
        for result in check_history(history.ops, inits=history.meta.get("inits")):
            print(explain(result, history.ops))
            if not result.ok:
                problems.append(f"key {result.key} not linearizable")
    if any(op.f == "lock" for op in history.ops):
        problems += check_locks(history)
    if history.notes("abandoned") or history.notes("live_session"):
        problems += check_sessions(history, check_interval=history.meta.get("check_interval", 0.05),
                                   margin=history.meta.get("margin", 1.0))
    if history.notes("watch_event"):
        problems += check_watches(history)
    if "present" in history.meta:
        problems += check_durability(history, set(history.meta["present"]))
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    history = History.load(Path(argv[0]))
    print(f"{argv[0]}: seed {history.meta.get('seed')}, {len(history.ops)} ops, {len(history.events)} notes")
    problems = recheck(history)
    for p in problems:
        print("VIOLATION:", p)
    print("OK: no violation" if not problems else f"{len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
