"""The checker is only worth something if it rejects bad histories: small hand-made cases."""

from __future__ import annotations

import math

import pytest

from tests.checker.history import FAIL, OK, UNKNOWN, History, Op
from tests.checker.linearizability import check_history, check_register, explain

INIT = ("", 0)


def op(f: str, call: float, ret: float, inp=None, out=None, status: str = OK, key: str = "x", p: str = "c") -> Op:
    return Op(p, f, key, inp, out, call, math.inf if status == UNKNOWN else ret, status)


def ok(ops: list[Op]) -> bool:
    return check_register(ops, INIT).ok


def test_sequential_history_is_linearizable():
    assert ok([op("write", 0, 1, "a", 1), op("read", 2, 3, out=["a", 1]), op("cas", 4, 5, [1, "b"], [True, 2]),
               op("read", 6, 7, out=["b", 2])])


def test_stale_read_after_write_completed_is_not():
    assert not ok([op("write", 0, 1, "a", 1), op("read", 2, 3, out=["", 0])])


def test_concurrent_read_may_see_old_or_new_value():
    w = op("write", 0, 10, "a", 1)
    assert ok([w, op("read", 1, 2, out=["", 0])])
    assert ok([w, op("read", 1, 2, out=["a", 1])])


def test_reads_must_not_go_back_in_time():
    """Two sequential reads during one long write: new then old is not linearizable."""
    assert not ok([op("write", 0, 10, "a", 1), op("read", 1, 2, out=["a", 1]), op("read", 3, 4, out=["", 0])])


def test_cas_needs_the_current_version():
    assert not ok([op("write", 0, 1, "a", 1), op("cas", 2, 3, [0, "b"], [True, 1])])
    assert ok([op("write", 0, 1, "a", 1), op("cas", 2, 3, [0, "b"], [False, None])])
    assert not ok([op("cas", 0, 1, [0, "b"], [False, None])])  # version 0 was current: must succeed


def test_two_cas_on_one_version_cannot_both_succeed():
    assert not ok([op("cas", 0, 5, [0, "a"], [True, 1], p="p1"), op("cas", 1, 6, [0, "b"], [True, 1], p="p2")])


def test_unknown_write_may_take_effect_late():
    """A timed-out write seen by a read long after: fine, it completes at +inf."""
    assert ok([op("write", 0, 0, "a", status=UNKNOWN), op("read", 5, 6, out=["", 0]), op("read", 7, 8, out=["a", 1])])


def test_unknown_write_may_never_take_effect():
    assert ok([op("write", 0, 0, "a", status=UNKNOWN), op("read", 5, 6, out=["", 0])])


def test_unknown_write_cannot_take_effect_before_its_invocation():
    assert not ok([op("read", 0, 1, out=["a", 1]), op("write", 2, 0, "a", status=UNKNOWN)])


def test_unknown_write_cannot_take_effect_twice():
    assert not ok([op("write", 0, 0, "a", status=UNKNOWN), op("read", 5, 6, out=["a", 1]),
                   op("read", 7, 8, out=["a", 2])])


def test_unknown_cas_on_a_wrong_version_has_no_effect():
    assert not ok([op("write", 0, 1, "a", 1), op("cas", 2, 0, [0, "b"], status=UNKNOWN),
                   op("read", 5, 6, out=["b", 2])])
    assert ok([op("write", 0, 1, "a", 1), op("cas", 2, 0, [1, "b"], status=UNKNOWN), op("read", 5, 6, out=["b", 2])])


def test_failed_ops_are_ignored():
    assert ok([op("write", 0, 1, "zzz", status=FAIL), op("read", 2, 3, out=["", 0])])


def test_keys_are_checked_separately_and_failures_are_explained():
    history = [op("write", 0, 1, "a", 1, key="x"), op("read", 2, 3, out=["a", 1], key="x"),
               op("write", 0, 1, "b", 1, key="y"), op("read", 2, 3, out=["", 0], key="y")]
    results = {r.key: r for r in check_history(history, INIT)}
    assert results["x"].ok and not results["y"].ok
    assert "could not linearize" in explain(results["y"], history)


def test_many_concurrent_writers_stay_tractable():
    """Twelve overlapping writes and a read of the last: memoization keeps this quick."""
    writes = [op("write", 0, 100, f"v{i}", None, p=f"p{i}") for i in range(12)]
    assert ok(writes + [op("read", 101, 102, out=["v7", 12])])
    assert not ok(writes + [op("read", 101, 102, out=["v7", 11])])


def test_history_json_round_trip(tmp_path):
    h = History()
    h.meta["seed"] = 7
    o = h.invoke("c1", "write", "x", "a")
    h.complete(o, UNKNOWN)
    h.complete(h.invoke("c1", "read", "x"), OK, ["", 0])
    h.note("fault", what="kill 1", start=0.0, end=1.0)
    back = History.load(h.dump(tmp_path / "h.json"))
    assert back.meta["seed"] == 7 and math.isinf(back.ops[0].ret) and back.ops[1].output == ["", 0]
    assert back.notes("fault")[0]["what"] == "kill 1"


@pytest.mark.parametrize("ret_read", [0.5, 1.5])
def test_read_overlapping_a_cas(ret_read):
    assert ok([op("cas", 0, 1, [0, "a"], [True, 1]), op("read", 0.2, ret_read, out=["a", 1])])


def test_long_histories_check_quickly():
    """Thousands of ops from 5 overlapping clients with some unknown writes: the window keeps it linear."""
    import random
    import time as _time

    rng = random.Random(1)
    value, version, t, ops = "", 0, 0.0, []
    for n in range(3000):
        t += 1.0
        f = rng.choice(("read", "write", "write", "cas"))
        call, ret = t - rng.uniform(0, 3), t + rng.uniform(0, 0.4)  # overlapping, effect at t
        if f == "read":
            ops.append(op("read", call, ret, out=[value, version], p=f"p{n % 5}"))
        elif f == "write" and n % 50 == 0:
            ops.append(op("write", call, 0, f"u{n}", status=UNKNOWN, p=f"p{n % 5}"))  # never took effect
        elif f == "write":
            value, version = f"v{n}", version + 1
            ops.append(op("write", call, ret, value, version, p=f"p{n % 5}"))
        else:
            value, version = f"c{n}", version + 1
            ops.append(op("cas", call, ret, [version - 1, value], [True, version], p=f"p{n % 5}"))
    started = _time.monotonic()
    assert ok(ops)
    reads = [o for o in ops if o.f == "read" and o.output[1] > 10]
    reads[len(reads) // 2].output = ["stale", reads[len(reads) // 2].output[1] - 10]
    assert not ok(ops)
    assert _time.monotonic() - started < 20


def test_many_pending_unknown_writes_stay_tractable():
    """Hundreds of timed-out writes pending while reads run ahead of a concurrent write:
    only an unknown write that the next op can use is tried, so the search stays small."""
    ops, version = [], 0
    for n in range(300):
        ops.append(op("write", 10 * n, 0, f"lost{n}", status=UNKNOWN, p="u"))
    for n in range(300):
        t = 4000 + 10 * n
        version += 1
        ops.append(op("write", t, t + 5, f"v{n}", version, p="w"))
        ops.append(op("read", t + 1, t + 2, out=[f"v{n}", version], p="r"))  # overlaps the write
    result = check_register(ops, INIT)
    assert result.ok and result.explored < 5000
