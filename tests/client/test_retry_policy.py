"""RetryPolicy: pauses, tries and deadline on an injected clock (no real sleeping), then one
real cluster whose nodes are paused, where a client's policy decides when a call gives up."""

from __future__ import annotations

import time

import pytest

from skylock.client import Client, NoLeader, NoNode, RetryPolicy, Timeout
from skylock.client.retry import GIVE_UP, RETRY_LATER
from skylock.errors import ConnectionLost
from tests.integration.cluster import LocalCluster


class FakeTime:
    """A clock that only ``sleep`` moves."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def policy(fake: FakeTime, **fields: object) -> RetryPolicy:
    return RetryPolicy(sleep=fake.sleep, clock=fake.clock, **fields)  # type: ignore[arg-type]


def failing(times: int, error: Exception, result: str = "ok"):  # type: ignore[no-untyped-def]
    calls = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return result

    return fn, calls


def test_pauses_grow_by_backoff_up_to_max_delay() -> None:
    fake = FakeTime()
    fn, calls = failing(5, NoLeader("election"))
    assert policy(fake, delay=0.1, backoff=3.0, max_delay=1.0, jitter=0.0)(fn) == "ok"
    assert len(calls) == 6
    assert fake.slept == pytest.approx([0.1, 0.3, 0.9, 1.0, 1.0])


def test_jitter_scales_each_pause_within_its_bounds() -> None:
    fake = FakeTime()
    draws: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        draws.append((low, high))
        return high

    fn, _calls = failing(2, ConnectionLost("down", sent=False))
    RetryPolicy(delay=0.1, backoff=2.0, jitter=0.5, sleep=fake.sleep, clock=fake.clock, uniform=uniform)(fn)
    assert draws == [(0.5, 1.5), (0.5, 1.5)]
    assert fake.slept == pytest.approx([0.15, 0.3])


def test_tries_bound_the_attempts_then_the_last_error_is_raised() -> None:
    fake = FakeTime()
    fn, calls = failing(10, Timeout("slow"))
    with pytest.raises(Timeout):
        policy(fake, tries=3, jitter=0.0)(fn)
    assert len(calls) == 3 and len(fake.slept) == 2


def test_no_retry_would_end_past_the_deadline() -> None:
    fake = FakeTime()
    fn, calls = failing(100, NoLeader("no quorum"))
    with pytest.raises(NoLeader):
        policy(fake, delay=1.0, backoff=1.0, max_delay=1.0, jitter=0.0, deadline=3.5)(fn)
    assert fake.slept == [1.0, 1.0, 1.0] and len(calls) == 4  # a 4th pause would end at 104 > 103.5


def test_an_error_that_is_not_retryable_is_raised_at_once() -> None:
    fake = FakeTime()
    fn, calls = failing(1, NoNode("/x"))
    with pytest.raises(NoNode):
        policy(fake)(fn)
    assert len(calls) == 1 and fake.slept == []


def test_used_up_tries_end_a_request_as_a_passed_deadline_would() -> None:
    fake = FakeTime()
    attempts = policy(fake, tries=2, deadline=60.0).start()
    err = NoLeader("election")
    assert attempts.after_failure(err, idempotent=True, closed=False, no_leader=err,
                                  several_servers=True).action == RETRY_LATER
    last = attempts.after_failure(err, idempotent=True, closed=False, no_leader=err, several_servers=True)
    assert last.action == GIVE_UP and last.error is err


@pytest.mark.parametrize("fields", [{"tries": 0}, {"delay": -1.0}, {"backoff": 0.5}, {"jitter": 1.5},
                                    {"deadline": 0.0}])
def test_nonsense_is_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**fields)  # type: ignore[arg-type]


def test_the_client_takes_its_call_deadline_from_the_policy() -> None:
    client = Client("127.0.0.1:1", retry=RetryPolicy(deadline=2.5, tries=4))
    try:
        assert client.request_timeout == 2.5 and client.retry.tries == 4
        assert Client("127.0.0.1:1", request_timeout=7.0).retry.deadline == 7.0
    finally:
        client.close()


def test_a_policy_decides_when_a_call_without_quorum_gives_up(cluster: LocalCluster) -> None:
    """Two of three nodes paused: the third cannot elect a leader, so every call fails and
    is retried; the policy, not the client's default 10 s, says when to stop."""
    live = cluster.leader()  # the leader keeps no stale lease past an election timeout either
    others = [n for n in (1, 2, 3) if n != live]
    by_deadline = cluster.client(cluster.address(live), retry=RetryPolicy(deadline=2.0, max_delay=0.2))
    by_tries = cluster.client(cluster.address(live), retry=RetryPolicy(tries=3, deadline=30.0))
    by_deadline.get("/")  # connected before the pause
    by_tries.get("/")
    for node in others:
        cluster.pause(node)
    try:
        started = time.monotonic()
        with pytest.raises((NoLeader, Timeout)):
            by_deadline.get("/")
        assert 2.0 - 0.3 <= time.monotonic() - started <= 2.0 + 2.0
        started = time.monotonic()
        with pytest.raises((NoLeader, Timeout)):
            by_tries.get("/")
        assert time.monotonic() - started < 15.0  # three tries, far from the 30 s deadline
    finally:
        for node in others:
            cluster.resume(node)
    cluster.leader()
