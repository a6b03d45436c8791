"""A linearizability checker for registers (Wing & Gong search, Lowe/Porcupine style).

Each key is a separate register (P-compositionality), checked on its own. The
search keeps a bitset of the ops already linearized and the model state, and
never revisits a (bitset, state) pair it has seen, which keeps it small on
real histories. An op may be linearized next only if it was invoked before
every not-yet-linearized op with a known completion returned. Ops of unknown
outcome complete at +inf: they may be linearized at any point after their
invocation, or never. The search succeeds when every op of known outcome is
linearized.

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


@dataclass
class Result:
    ok: bool
    key: str
    ops: int
    explored: int
    #: on failure: the longest linearizable prefix found (op indexes) and the ops that could not follow it
    prefix: list[int] | None = None
    stuck: list[int] | None = None


def check_register(ops: list[Op], init: State, key: str = "", max_states: int = 2_000_000) -> Result:
    """Is this single-register history linearizable from ``init``?"""
    ops = sorted((o for o in ops if o.status != FAIL and not (o.f == "read" and o.status != OK)),
                 key=lambda o: o.call)
    n = len(ops)
    rets = [o.ret for o in ops]
    known_mask = 0
    for i, o in enumerate(ops):
        if o.status == OK:
            known_mask |= 1 << i
    full = known_mask
    seen: set[tuple[int, State]] = set()
    best: tuple[int, list[int]] = (-1, [])
    # DFS over (linearized bitset, state, path); iterative to avoid deep recursion
    stack: list[tuple[int, State, list[int]]] = [(0, init, [])]
    explored = 0
    while stack:
        done, state, path = stack.pop()
        if done & full == full:
            return Result(True, key, n, explored)
        if (done, state) in seen:
            continue
        seen.add((done, state))
        explored += 1
        if explored > max_states:
            raise RuntimeError(f"key {key}: search exceeded {max_states} states")
        if len(path) > best[0]:
            best = (len(path), path)
        # the earliest completion among ops not yet linearized bounds which op may go next
        horizon = math.inf
        for i in range(n):
            if not done >> i & 1 and rets[i] < horizon:
                horizon = rets[i]
        for i in range(n):
            if ops[i].call > horizon:
                break  # sorted by call: nothing later can precede the op that returned at horizon
            if done >> i & 1:
                continue
            if ops[i].f == "cas" and ops[i].status != OK:
                successors = _cas_unknown_both(state, ops[i])
            else:
                nxt = step(state, ops[i])
                successors = [] if nxt is None else [nxt]
            for nxt in successors:
                stack.append((done | 1 << i, nxt, path + [i]))
    prefix = best[1]
    done = 0
    for i in prefix:
        done |= 1 << i
    stuck = [i for i in range(n) if not done >> i & 1 and ops[i].status == OK]
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
