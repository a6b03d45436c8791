"""Checkers for SkyLock's promises other than linearizable registers.

All of them read a ``History``: ops (``lock``, ``create``, ``set``...) and notes
(``watch_event``, ``session_expired``, ``fault``...). Each returns a list of
human-readable violations; empty means the promise held.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

from tests.checker.history import OK, History


def check_locks(history: History) -> list[str]:
    """Mutual exclusion and fencing.

    A holding interval runs from the acquire's completion (the client knows it holds)
    to the release's invocation (it stops relying on the lock) — conservative: the
    real server-side interval contains this one. A holder whose session was reported
    expired stops holding at that report. No two intervals of one lock may overlap, and
    fencing tokens must strictly increase in grant order.
    """
    violations = []
    expired_at = {e["process"]: e["t"] for e in history.notes("session_expired")}
    grants: dict[str, list[tuple[float, float, int, str]]] = defaultdict(list)
    for op in history.ops:
        if op.f != "lock" or op.status != OK:
            continue
        start = op.output["acquired"]
        end = op.output.get("released")
        end = math.inf if end is None else end
        end = min(end, expired_at.get(op.process, math.inf))
        grants[op.key].append((start, end, int(op.output["token"]), op.process))
    for name, spans in grants.items():
        spans.sort()
        for (s1, e1, t1, p1), (s2, e2, t2, p2) in zip(spans, spans[1:]):
            if s2 < e1:
                violations.append(f"lock {name}: {p2} acquired at {s2:.3f} while {p1} held it [{s1:.3f}, {e1:.3f}]")
            if t2 <= t1:
                violations.append(f"lock {name}: token {t2} ({p2}) granted after token {t1} ({p1}): not increasing")
    return violations


def extended_deadline(start: float, base: float, faults: list[dict[str, Any]], per_fault: float) -> float:
    """``start + base``, pushed back by every fault that overlaps the window: while the
    cluster has no leader nothing expires, and a new leader restarts deadlines at a full TTL."""
    deadline = start + base
    changed = True
    counted: set[int] = set()
    while changed:
        changed = False
        for i, f in enumerate(faults):
            if i in counted or f["start"] > deadline or f.get("end", math.inf) < start:
                continue
            counted.add(i)
            deadline += (f.get("end", deadline) - f["start"]) + per_fault
            changed = True
    return deadline


def check_sessions(history: History, *, check_interval: float, margin: float) -> list[str]:
    """Ephemerals of an abandoned session go soon after its TTL; live sessions never expire.

    ``abandoned`` notes: ``{process, ttl, last_heartbeat, path}``; ``ephemeral_gone`` notes:
    ``{process, t}`` (first time the path was seen absent); ``session_expired`` notes must
    never name a ``live`` process.
    """
    violations = []
    faults = history.notes("fault")
    gone = {e["process"]: e["t"] for e in history.notes("ephemeral_gone")}
    for a in history.notes("abandoned"):
        limit = extended_deadline(a["last_heartbeat"], a["ttl"] + check_interval + margin, faults, a["ttl"] + margin)
        seen_gone = gone.get(a["process"])
        if seen_gone is None:
            violations.append(f"session {a['process']}: ephemeral {a['path']} never removed")
        elif seen_gone > limit:
            violations.append(f"session {a['process']}: ephemeral {a['path']} removed {seen_gone - limit:.2f}s "
                              f"after its allowed deadline (ttl {a['ttl']}s)")
    live = {e["process"] for e in history.notes("live_session")}
    for e in history.notes("session_expired"):
        if e["process"] in live:
            violations.append(f"live heartbeating session {e['process']} was expired at {e['t']:.3f}")
    for e in history.notes("live_ephemeral_missing"):
        violations.append(f"live session {e['process']}: its ephemeral {e['path']} is gone")
    return violations


def check_watches(history: History) -> list[str]:
    """Every acknowledged write under the watched path arrives exactly once, in zxid order.

    ``watch_event`` notes: ``{watcher, type, path, zxid}``; acknowledged writes are ``set``
    ops with output ``{"mzxid": ...}``; only writes invoked after the watcher's first
    ``watch_registered`` note are owed to it. Events after an explicit ``resync`` are not
    judged (a resync is the loud signal the design allows).
    """
    violations = []
    by_watcher: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in history.notes("watch_event"):
        by_watcher[e["watcher"]].append(e)
    first_registered: dict[str, float] = {}
    for e in history.notes("watch_registered"):
        first_registered.setdefault(e["watcher"], e["t"])
    acked = [(op.key, int(op.output["mzxid"]), op.call) for op in history.ops if op.f == "set" and op.status == OK]
    for watcher, events in by_watcher.items():
        since = first_registered.get(watcher, -math.inf)
        resync = min((e["zxid"] for e in events if e["type"] == "resync"), default=math.inf)
        data = [(e["path"], e["zxid"]) for e in events if e["type"] == "data_changed"]
        for (path, zxid), count in Counter(data).items():
            if count > 1:
                violations.append(f"watcher {watcher}: event data_changed {path}@{zxid} delivered {count} times")
        zxids = [e["zxid"] for e in events if e["type"] != "resync"]
        for a, b in zip(zxids, zxids[1:]):
            if b < a:
                violations.append(f"watcher {watcher}: event zxid {b} after {a}: out of order")
                break
        seen = set(data)
        for key, zxid, invoked in acked:
            if invoked >= since and zxid < resync and (key, zxid) not in seen:
                violations.append(f"watcher {watcher}: acknowledged write {key}@{zxid} never delivered")
    return violations


def check_durability(history: History, present: set[str]) -> list[str]:
    """Every acknowledged ``create`` is present after the whole cluster was killed and restarted."""
    return [f"acknowledged create {op.key} lost after whole-cluster restart"
            for op in history.ops if op.f == "create" and op.status == OK and op.key not in present]
