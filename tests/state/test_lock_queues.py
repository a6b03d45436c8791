"""The lock queue index: always what sorting and filtering a lock's children gives, through
acquire, release, expiry, hand-written nodes, failed transactions and snapshots."""

from __future__ import annotations

import re
from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skylock.errors import SkyLockError
from skylock.state import StateMachine, commands, locks
from skylock.state.lock_queues import LockQueues

from .conftest import Driver

LOCKS = ["x", "y"]
SESSIONS = ["s0", "s1", "s2", "s3"]
ENTRY = re.compile(r"lock-[0-9]{10}")


# ---- the reference: the rule as it was, sorting and filtering the children on each call --

def ref_contenders(sm: StateMachine, name: str) -> list[str]:
    directory = locks.lock_dir(name)
    if sm.exists(directory) is None:
        return []
    return [child for child in sm.children(directory)[0]
            if ENTRY.fullmatch(child) and sm.exists(f"{directory}/{child}").ephemeral_owner]


def ref_delayed(sm: StateMachine, name: str) -> bool:
    stat = sm.exists(f"{locks.lock_dir(name)}/{locks.DELAY_NODE}")
    return stat is not None and not stat.ephemeral_owner


def ref_holder(sm: StateMachine, name: str) -> str | None:
    queue = ref_contenders(sm, name)
    return queue[0] if queue and not ref_delayed(sm, name) else None


def ref_entry(sm: StateMachine, name: str, entry_name: str) -> dict[str, Any]:
    data, stat = sm.get(f"{locks.lock_dir(name)}/{entry_name}")
    try:
        record = msgpack.unpackb(data, raw=False)
    except Exception:
        record = {}
    owner = record.get("owner", "") if isinstance(record, dict) else ""
    return {"entry": entry_name, "owner": owner, "session": stat.ephemeral_owner, "token": stat.czxid}


def ref_info(sm: StateMachine, name: str) -> dict[str, Any]:
    queue = [ref_entry(sm, name, e) for e in ref_contenders(sm, name)]
    held = ref_holder(sm, name) is not None
    result = {"name": name, "holder": queue[0] if held else None, "waiters": queue[1:] if held else queue}
    if ref_delayed(sm, name):
        result["delay"] = locks.delay(sm._tree, name)
    return result


def ref_index(sm: StateMachine) -> tuple[dict[str, list[str]], dict[tuple[str, str], set[str]]]:
    """Every non-empty queue, and each session's entries per lock, from a walk of /locks."""
    queues: dict[str, list[str]] = {}
    owned: dict[tuple[str, str], set[str]] = {}
    names = sm.children(locks.LOCKS_ROOT)[0] if sm.exists(locks.LOCKS_ROOT) else []
    for name in names:
        directory = locks.lock_dir(name)
        for entry_name in ref_contenders(sm, name):
            queues.setdefault(directory, []).append(entry_name)
            owner = sm.exists(f"{directory}/{entry_name}").ephemeral_owner
            owned.setdefault((directory, owner), set()).add(entry_name)
    return queues, owned


def check_index(sm: StateMachine) -> None:
    index = sm._tree.index(LockQueues)
    queues, owned = ref_index(sm)
    assert {d: list(q) for d, q in index._queues.items()} == queues  # order included
    assert index._owned == owned
    for name in LOCKS:
        assert sm.lock_info(name) == ref_info(sm, name)
        assert locks.holder_id(sm._tree, name) == ref_holder(sm, name)


# ---- the steps ------------------------------------------------------------------------

def lock_id_of(d: Driver, name: str, entry_name: str) -> str | None:
    owner = d.sm.exists(f"{locks.lock_dir(name)}/{entry_name}").ephemeral_owner
    secret = {s["public_id"]: s["session_id"] for s in d.sm.sessions()}.get(owner)
    return locks.lock_id_for(secret, name, entry_name) if secret else None


def do_acquire(d: Driver, name: str, sid: str, delay_ms: int) -> None:
    applied = d.apply(commands.lock_acquire(name, session_id=sid, owner="o-" + sid, request_id="r",
                                            lock_delay_ms=delay_ms, now_ms=d.now_ms))
    if applied.error is not None:
        return
    result, public = applied.result, d.public(sid)
    queue = ref_contenders(d.sm, name)
    mine = min(e for e in queue if d.sm.exists(f"/locks/{name}/{e}").ephemeral_owner == public)
    position = queue.index(mine)
    assert result["entry"] == mine
    assert result["predecessor"] == (queue[position - 1] if position else None)
    assert result["holder"] == (ref_holder(d.sm, name) == mine)


def do_release(d: Driver, name: str, pick: int) -> None:
    queue = ref_contenders(d.sm, name)
    if not queue:
        return
    target = queue[pick % len(queue)]
    lock_id = lock_id_of(d, name, target)
    before = ref_holder(d.sm, name)
    applied = d.apply(commands.lock_release(name, session_id=None, lock_id=lock_id or target))
    if applied.error is None:
        after = ref_holder(d.sm, name)
        expected = ref_entry(d.sm, name, after) if before == target and after is not None else None
        assert applied.result["next_holder"] == expected


def do_end_session(d: Driver, sid: str, expire: bool) -> None:
    session = d.sm.session(sid)
    if session is None:
        return
    named = sorted({n for n in map(locks.lock_name_of, session["ephemerals"]) if n is not None})
    before = {name: ref_holder(d.sm, name) for name in named}
    cmd = commands.expire_session([sid]) if expire else commands.close_session(sid)
    grants = d.ok(cmd)["lock_grants"]
    after = {name: ref_holder(d.sm, name) for name in named}
    assert grants == [{"name": n, "holder": ref_entry(d.sm, n, after[n])}
                      for n in named if after[n] is not None and after[n] != before[n]]


def do_hand_create(d: Driver, where: str, child: str, sid: str | None) -> None:
    """A node written by hand under /locks: a lock-NNNNNNNNNN out of order, a delay node,
    a name that only looks like an entry, a sequential ``lock-``; ephemeral or not."""
    for parent in (locks.LOCKS_ROOT, where):
        if d.sm.exists(parent) is None:
            d.ok(d.create(parent))
    sequential = child == "lock-"
    d.apply(d.create(f"{where}/{child}", b"\x93", ephemeral=sid is not None, session_id=sid,
                     sequential=sequential))


def do_hand_delete(d: Driver, name: str, pick: int) -> None:
    directory = locks.lock_dir(name)
    if d.sm.exists(directory) is not None:
        children = d.sm.children(directory)[0]
        if children:
            d.apply(commands.delete(f"{directory}/{children[pick % len(children)]}"))


def do_failed_multi(d: Driver, name: str, pick: int, number: int, sid: str) -> None:
    """Deletes (the holder among them), out-of-order and sequential creates, then a failing
    check: the undo must put the queue back as it was."""
    directory = locks.lock_dir(name)
    ops = []
    if d.sm.exists(directory) is not None:
        children = d.sm.children(directory)[0]
        ops += [commands.delete(f"{directory}/{c}") for c in (children[:1] + children[pick % 3 + 1:][:2])]
        ops.append(d.create(f"{directory}/lock-{number:010d}", ephemeral=True, session_id=sid))
        ops.append(d.create(f"{directory}/lock-", ephemeral=True, session_id=sid, sequential=True))
    ops.append(commands.check("/", version=99))
    d.fails(commands.multi(ops, now_ms=d.now_ms), SkyLockError)  # the check, or an op before it


def do_delay_end(d: Driver, name: str) -> None:
    pending = locks.delay(d.sm._tree, name)
    if pending is not None:
        result = d.ok(commands.lock_delay_end(name, since=pending["since"]))
        holder = ref_holder(d.sm, name)
        assert result["next_holder"] == (ref_entry(d.sm, name, holder) if holder else None)


def do_snapshot(d: Driver) -> None:
    restored = StateMachine()
    restored.restore(d.sm.snapshot())
    assert restored.snapshot() == d.sm.snapshot()
    d.sm = restored


lock = st.sampled_from(LOCKS)
session = st.sampled_from(SESSIONS)
child_name = st.one_of(st.integers(0, 12).map(lambda n: f"lock-{n:010d}"),
                       st.sampled_from(["lock-", "delay", "lock-7", "other"]))
where = st.one_of(lock.map(locks.lock_dir), st.just(locks.LOCKS_ROOT))
acquire = st.tuples(st.just(do_acquire), lock, session, st.sampled_from([0, 0, 500]))
STEP = st.one_of(
    acquire, acquire, acquire,  # queues long enough to reorder
    st.tuples(st.just(do_release), lock, st.integers(0, 5)),
    st.tuples(st.just(do_end_session), session, st.booleans()),
    st.tuples(st.just(lambda d, sid: d.open(sid)), session),
    st.tuples(st.just(do_hand_create), where, child_name, st.one_of(st.none(), session)),
    st.tuples(st.just(do_hand_delete), lock, st.integers(0, 5)),
    st.tuples(st.just(do_failed_multi), lock, st.integers(0, 5), st.integers(0, 12), session),
    st.tuples(st.just(do_delay_end), lock),
    st.tuples(st.just(do_snapshot)),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=10, max_size=50))
def test_the_index_is_always_the_sorted_filtered_children(steps):
    d = Driver()
    for sid in SESSIONS:
        d.open(sid)
    for step, *args in steps:
        step(d, *args)
        check_index(d.sm)


# ---- the rare paths, each on its own ----------------------------------------------------

def queue_of(d: Driver, name: str) -> list[str]:
    return d.sm._tree.index(LockQueues).entries(locks.lock_dir(name))


def test_undoing_deletes_of_the_holder_and_a_waiter_puts_them_back_in_order():
    d = Driver()
    for sid in SESSIONS:
        d.open(sid)
        d.acquire("x", sid)
    before = queue_of(d, "x")
    doomed = [commands.delete(f"/locks/x/{entry_name}") for entry_name in before[:2]]
    d.fails(commands.multi([*doomed, commands.check("/", version=99)], now_ms=d.now_ms), SkyLockError)
    assert queue_of(d, "x") == before == ref_contenders(d.sm, "x")
    check_index(d.sm)


def test_a_hand_written_entry_above_the_next_sequence_keeps_the_queue_sorted():
    d = Driver()
    for sid in SESSIONS:
        d.open(sid)
    d.acquire("x", "s0")
    d.ok(d.create("/locks/x/lock-0000000005", ephemeral=True, session_id="s1"))
    d.ok(d.create("/locks/x/lock-0000000003"))  # persistent: neither holds nor blocks
    late = d.acquire("x", "s2")  # lock-0000000001: below the hand-written one
    assert (late["entry"], late["predecessor"]) == ("lock-0000000001", "lock-0000000000")
    assert queue_of(d, "x") == ["lock-0000000000", "lock-0000000001", "lock-0000000005"]
    check_index(d.sm)


def test_a_session_with_two_entries_re_enters_at_its_lowest():
    d = Driver()
    d.open("s0")
    first = d.acquire("x", "s0")
    d.ok(d.create("/locks/x/lock-0000000007", ephemeral=True, session_id="s0"))
    again = d.acquire("x", "s0", request_id="retry")
    assert again == first
    check_index(d.sm)
