"""Replicas agree: the same command stream gives the same state, with or without a snapshot."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skylock.state import StateMachine, commands, locks

from .conftest import content

NAMES = ["a", "b", "c"]
SESSIONS = ["s0", "s1", "s2", "s3"]
LOCKS = ["x", "y"]
USERS = ["u1", "u2"]
ROLES = ["r1", "r2"]
TOKEN_HASHES = ["%064x" % i for i in range(3)]


def random_path(rng: random.Random) -> str:
    return "/" + "/".join(rng.choice(NAMES) for _ in range(rng.randint(1, 3)))


def random_data_op(rng: random.Random, now: int) -> dict[str, Any]:
    kind = rng.random()
    if kind < 0.45:
        ephemeral = rng.random() < 0.3
        return commands.create(random_path(rng) + rng.choice(["", "-"]), bytes([rng.randrange(256)]) * rng.randint(0, 3),
                               ephemeral=ephemeral, sequential=rng.random() < 0.3,
                               session_id=rng.choice(SESSIONS) if ephemeral else None, now_ms=now)
    if kind < 0.7:
        return commands.set_data(random_path(rng), b"v%d" % now, version=rng.choice([-1, 0, 1]), now_ms=now)
    if kind < 0.9:
        return commands.delete(random_path(rng), version=rng.choice([-1, -1, 0]))
    return commands.check(random_path(rng), version=rng.choice([-1, 0]))


def random_auth_command(rng: random.Random) -> dict[str, Any]:
    """Any auth change, valid or not (a refused one must change nothing on every replica)."""
    user, role = rng.choice(USERS), rng.choice(ROLES)
    grant = {"permission": rng.choice(["read", "write", "lock", "admin", "bad"]), "prefix": random_path(rng)}
    return rng.choice([
        commands.auth("auth.user_add", name=user, token_sha256=rng.choice(TOKEN_HASHES)),
        commands.auth("auth.user_delete", name=user),
        commands.auth("auth.user_grant_role", name=user, role=role),
        commands.auth("auth.user_revoke_role", name=user, role=role),
        commands.auth("auth.role_add", name=role),
        commands.auth("auth.role_delete", name=role),
        commands.auth("auth.role_grant", name=role, **grant),
        commands.auth("auth.role_revoke", name=role, **grant),
    ])


def random_command(rng: random.Random, sm: StateMachine, now: int) -> Any:
    """A command for the next entry; may look at ``sm`` (every replica's state is the same)."""
    kind = rng.random()
    if kind < 0.41:
        return random_data_op(rng, now)
    if kind < 0.45:
        return random_auth_command(rng)
    if kind < 0.6:
        return commands.multi([random_data_op(rng, now) for _ in range(rng.randint(0, 4))], now_ms=now)
    if kind < 0.68:
        return commands.open_session(rng.choice(SESSIONS), "c", 1000, now_ms=now)
    if kind < 0.72:
        return commands.close_session(rng.choice(SESSIONS))
    if kind < 0.76:
        return commands.expire_session(rng.sample(SESSIONS, rng.randint(1, 2)))
    if kind < 0.88:
        return commands.lock_acquire(rng.choice(LOCKS), session_id=rng.choice(SESSIONS), owner="o",
                                     request_id=str(rng.randrange(3)), now_ms=now)
    if kind < 0.97:
        name = rng.choice(LOCKS)
        info = sm.lock_info(name)
        queue = ([info["holder"]] if info["holder"] else []) + info["waiters"]
        if queue and rng.random() < 0.8:
            target = rng.choice(queue)
            secret = {s["public_id"]: s["session_id"] for s in sm.sessions()}[target["session"]]
            lock_id = locks.lock_id_for(secret, name, target["entry"])
            sid = rng.choice([secret] * 6 + [None] * 2 + SESSIONS)  # mostly the owner's, or none
            if rng.random() < 0.1:
                lock_id = target["entry"]  # what lock.info shows: never enough
            return commands.lock_release(name, session_id=sid, lock_id=lock_id)
        return commands.lock_release(name, session_id=rng.choice(SESSIONS), lock_id="lock-0000000000")
    return rng.choice([commands.noop(), {"op": "nope"}, {"op": "create", "path": 5}, "garbage"])


def check_invariants(sm: StateMachine) -> None:
    """Structural facts that must hold after every entry."""
    live = {s["public_id"] for s in sm.sessions()}
    stack = ["/"]
    seen_ephemerals: dict[str, list[str]] = {}
    while stack:
        path = stack.pop()
        names, stat = sm.children(path)
        assert stat.num_children == len(names)
        if stat.ephemeral_owner:
            assert stat.ephemeral_owner in live and not names
            seen_ephemerals.setdefault(stat.ephemeral_owner, []).append(path)
        stack.extend(path.rstrip("/") + "/" + n for n in names)
    for session in sm.sessions():
        assert session["ephemerals"] == sorted(seen_ephemerals.get(session["public_id"], []))


def run_stream(seed: int, steps: int, snapshot_at: int | None = None) -> None:
    rng = random.Random(seed)
    a, b = StateMachine(), StateMachine()
    c: StateMachine | None = None
    zxid = 0
    for step in range(steps):
        if step == snapshot_at:
            c = StateMachine()
            c.restore(a.snapshot())
            assert c.state_hash() == a.state_hash()
        zxid += rng.randint(1, 3)
        cmd = random_command(rng, a, 1000 + step)
        before = content(a)
        ra = a.apply(zxid, cmd)
        rb = b.apply(zxid, cmd)
        assert (ra.result, type(ra.error), ra.events) == (rb.result, type(rb.error), rb.events)
        assert not (ra.error is not None and type(ra.error).__name__ == "InternalError"), ra.error
        if ra.error is not None:
            assert content(a) == before and ra.events == []
        if c is not None:
            rc = c.apply(zxid, cmd)
            assert (ra.result, type(ra.error), ra.events) == (rc.result, type(rc.error), rc.events)
        if step % 50 == 0:
            check_invariants(a)
    check_invariants(a)
    assert a.state_hash() == b.state_hash()
    assert a.auth_view().role_list() == b.auth_view().role_list()
    if c is not None:
        assert c.state_hash() == a.state_hash()


@pytest.mark.parametrize("seed", range(8))
def test_two_replicas_applying_the_same_stream_have_equal_hashes(seed):
    run_stream(seed, 600)


@pytest.mark.parametrize("seed", range(4))
def test_snapshot_mid_stream_then_restore_and_continue_gives_the_same_state(seed):
    run_stream(100 + seed, 600, snapshot_at=300)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), cut=st.integers(min_value=0, max_value=150))
def test_any_seed_and_snapshot_point_keep_replicas_equal(seed, cut):
    run_stream(seed, 150, snapshot_at=cut)


def test_snapshot_round_trip_keeps_counters_sessions_and_locks():
    sm = StateMachine()
    sm.apply(1, commands.open_session("s1", "c", 500, now_ms=1))
    sm.apply(2, commands.create("/q", now_ms=2))
    sm.apply(3, commands.create("/q/n-", sequential=True, now_ms=3))
    sm.apply(4, commands.lock_acquire("l", session_id="s1", owner="o", request_id="r", now_ms=4))
    restored = StateMachine()
    restored.restore(sm.snapshot())
    assert restored.state_hash() == sm.state_hash()
    assert restored.last_zxid == 4
    assert restored.sessions() == sm.sessions()
    assert restored.lock_info("l") == sm.lock_info("l")
    for machine in (sm, restored):
        assert machine.apply(5, commands.create("/q/n-", sequential=True, now_ms=5)).result["path"] == "/q/n-0000000001"
        assert machine.apply(6, commands.close_session("s1")).result["deleted"] == ["/locks/l/lock-0000000000"]
    assert restored.state_hash() == sm.state_hash()


def test_restore_of_garbage_raises_badrequest_and_keeps_state():
    from skylock.errors import BadRequest
    sm = StateMachine()
    sm.apply(1, commands.create("/a", now_ms=1))
    before = sm.state_hash()
    for junk in [b"", b"\x00", commands.encode({"format": 99}), commands.encode({"format": 1, "nodes": [[1]]})]:
        with pytest.raises(BadRequest):
            sm.restore(junk)
    assert sm.state_hash() == before


def test_state_hash_differs_when_state_differs():
    a, b = StateMachine(), StateMachine()
    a.apply(1, commands.create("/a", b"1", now_ms=1))
    b.apply(1, commands.create("/a", b"2", now_ms=1))
    assert a.state_hash() != b.state_hash()


def test_snapshot_does_not_share_mutable_state_with_the_source():
    a = StateMachine()
    a.apply(1, commands.create("/a", now_ms=1))
    b = StateMachine()
    b.restore(a.snapshot())
    b.apply(2, commands.create("/a/b", now_ms=2))
    assert a.exists("/a/b") is None
