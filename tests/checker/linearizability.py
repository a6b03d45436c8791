"""A linearizability checker for registers (Wing & Gong search, Lowe/Porcupine style).

Each key is a separate register (P-compositionality), checked on its own. The
search keeps a bitset of the ops already linearized and the model state, and
never revisits a (bitset, state) pair it has seen, which keeps it small on
real histories. An op may be linearized next only if it was invoked before
every not-yet-linearized op with a known completion returned. Ops of unknown
outcome complete at +inf: they may be linearized at any point after their
invocation, or never. The search succeeds when every op of known outcome is
linearized.

Unknown-outcome ops are only tried where one is needed. Every applied write moves the
version up by one and every known op pins the version it runs at (a failed CAS only rules
one out), so an unknown op in a linearization can be moved later, past ops it does not
affect, until it stands just before a known op that needs the version bump (and that the op it
applies lets run, or still leaves wanting a later version); past the last known op it can be
dropped. Searching only such canonical linearizations is complete and avoids trying every
pending unknown op at every step.

Register model (our znode): state ``(value, version)``.
  read          output ``[value, version]``
  write v       unconditional set; output the new version (or None if not known)
  cas [ver, v]  ``set(path, v, version=ver)``: output ``[True, new_version]`` or ``[False, None]`` (BadVersion)
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tests.checker.history import FAIL, OK, Op

State = tuple[Any, int]


def step(state: State, op: Op) -> State | None:
    """The state after ``op`` if its (possibly unknown) output is consistent with ``state``, else None."""
    value, version = state
    known = op.status == OK
    if op.f == "read":
        if not known:
            return state
        return state if list(op.output) == [value, version] else None
    if op.f == "write":
        new = (op.input, version + 1)
        return new if not known or op.output is None or op.output == version + 1 else None
    if op.f == "cas":
        expected, new_value = op.input
        if not known:  # it may have succeeded (only possible when the version matched) or failed
            return (new_value, version + 1) if expected == version else state
        succeeded, new_version = op.output
        if succeeded:
            return (new_value, version + 1) if expected == version and new_version in (None, version + 1) else None
        return state if expected != version else None
    raise ValueError(f"unknown register op {op.f!r}")


def _cas_unknown_both(state: State, op: Op) -> list[State]:
    """An unknown-outcome CAS whose version matches may have applied or not."""
    nxt = step(state, op)
    return [nxt, state] if nxt is not None and nxt != state else ([nxt] if nxt is not None else [])


def _wants_bump(op: Op, version: int) -> bool:
    """Does known ``op`` need the register's version to move past ``version`` before it?"""
    if op.f == "read":
        return op.output[1] > version
    if op.f == "write":
        return op.output is not None and op.output - 1 > version
    expected = op.input[0]
    succeeded = op.output[0]
    return expected > version if succeeded else expected == version


def _useful(state: State, unknown_op: Op, wanting: list[Op]) -> bool:
    """Applying ``unknown_op`` now lets one of the ops that want a version bump run next,
    or brings one closer to it (it still wants a later version)."""
    after = step(state, unknown_op)
    if after is None or after == state:
        return False
    return any(step(after, o) is not None or _wants_bump(o, after[1]) for o in wanting)


@dataclass
class Result:
    ok: bool
    key: str
    ops: int
    explored: int
    #: on failure: the longest linearizable prefix found (op indexes) and the ops that could not follow it
    prefix: list[int] | None = None
    stuck: list[int] | None = None


def check_register(ops: list[Op], init: State, key: str = "", max_states: int = 400_000) -> Result:
    """Is this single-register history linearizable from ``init``?

    Ops of known outcome are visited through a window: everything before the first
    unlinearized one is done, and nothing invoked after the earliest pending return
    can go next, so each step looks at a few ops even in histories of many thousands.
    """
    ops = sorted((o for o in ops if o.status != FAIL and not (o.f == "read" and o.status != OK)),
                 key=lambda o: o.call)
    n = len(ops)
    calls = [o.call for o in ops]
    rets = [o.ret for o in ops]
    known = [i for i in range(n) if ops[i].status == OK]
    unknown = [i for i in range(n) if ops[i].status != OK]
    k = len(known)
    seen: set[tuple[int, State]] = set()
    best: tuple[int, Any] = (-1, None)
    # DFS over (linearized bitset, state, first-undone position in `known`, path as a cons list)
    stack: list[tuple[int, State, int, Any, int]] = [(0, init, 0, None, 0)]
    explored = 0
    while stack:
        done, state, lo, path, depth = stack.pop()
        while lo < k and done >> known[lo] & 1:
            lo += 1
        if lo == k:
            return Result(True, key, n, explored)
        if (done, state) in seen:
            continue
        seen.add((done, state))
        explored += 1
        if explored > max_states:
            raise RuntimeError(f"key {key}: search exceeded {max_states} states")
        if depth > best[0]:
            best = (depth, path)
        # an op may go next only if invoked before the earliest return among pending known ops
        horizon = math.inf
        window = []
        j = lo
        while j < k and calls[known[j]] <= horizon:
            i = known[j]
            if not done >> i & 1:
                window.append(i)
                horizon = min(horizon, rets[i])
            j += 1
        ready = [i for i in window if calls[i] <= horizon]
        # Unknown-outcome ops may wait (they return at +inf), so they are tried only where one is
        # needed: a ready op wants a later version than the current one, or a failed CAS names the
        # current version. Any linearization can be rearranged into that form (see module doc).
        candidates = []
        wanting = [ops[i] for i in ready if _wants_bump(ops[i], state[1])]
        if wanting:
            candidates = [i for i in unknown if not done >> i & 1 and calls[i] <= horizon
                          and _useful(state, ops[i], wanting)]
        # the stack pops last-pushed first: known ops, earliest invocation first, go before unknown ones
        candidates += reversed(ready)
        for i in candidates:
            if ops[i].f == "cas" and ops[i].status != OK:
                successors = _cas_unknown_both(state, ops[i])
            else:
                nxt = step(state, ops[i])
                successors = [] if nxt is None else [nxt]
            for nxt in successors:
                stack.append((done | 1 << i, nxt, lo, (i, path), depth + 1))
    prefix: list[int] = []
    node = best[1]
    while node is not None:
        prefix.append(node[0])
        node = node[1]
    prefix.reverse()
    done = 0
    for i in prefix:
        done |= 1 << i
    stuck = [i for i in known if not done >> i & 1]
    return Result(False, key, n, explored, prefix, stuck)


def check_history(ops: list[Op], init: State = (b"", 0), inits: dict[str, State] | None = None) -> list[Result]:
    """Check every key of a register history separately; returns one Result per key."""
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        if op.f in ("read", "write", "cas"):
            by_key[op.key].append(op)
    inits = inits or {}
    return [check_register(key_ops, _norm(inits.get(key, init)), key) for key, key_ops in sorted(by_key.items())]


def _norm(state: Any) -> State:
    value, version = state
    return (value, int(version))


def explain(result: Result, ops: list[Op]) -> str:
    """A readable account of a failed key: the ops that could not be linearized."""
    if result.ok:
        return f"key {result.key}: linearizable ({result.ops} ops, {result.explored} states)"
    key_ops = sorted((o for o in ops if o.key == result.key and o.status != FAIL
                      and not (o.f == "read" and o.status != OK)), key=lambda o: o.call)
    lines = [f"key {result.key}: NOT linearizable ({result.ops} ops, {result.explored} states explored)",
             f"  longest linearizable prefix: {len(result.prefix or [])} ops; last few:"]
    for i in (result.prefix or [])[-5:]:
        lines.append(f"    {_fmt(key_ops[i])}")
    lines.append("  could not linearize next (first few):")
    for i in (result.stuck or [])[:5]:
        lines.append(f"    {_fmt(key_ops[i])}")
    return "\n".join(lines)


def _fmt(op: Op) -> str:
    return f"{op.process} {op.f}({op.input!r}) -> {op.status} {op.output!r} [{op.call:.3f}, {op.ret:.3f}]"
