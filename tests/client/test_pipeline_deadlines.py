"""The async pipeline's bookkeeping, without a server: deadlines kept in the order requests
are made, attempts answered through ``Connection.send``'s reply target (no future each)."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from skylock.client.pipeline import Pipeline
from skylock.client.retry import RetryPolicy
from skylock.errors import Timeout


class SilentConnection:
    """Takes every request and never answers unless told to (``answer``)."""

    address = "127.0.0.1:1"

    def __init__(self) -> None:
        self.sent: dict[int, Any] = {}
        self.withdrawn: list[int] = []
        self._ids = itertools.count(1)

    def send(self, op: str, args: dict[str, Any], target: Any) -> int:
        request_id = next(self._ids)
        self.sent[request_id] = target
        return request_id

    def withdraw(self, request_id: int) -> None:
        self.withdrawn.append(request_id)

    def answer(self, request_id: int, result: Any) -> None:
        self.sent[request_id].set_result(result)


class OneServer:
    """What the pipeline asks of ``Failover``: one connection, a retry policy."""

    def __init__(self, deadline: float) -> None:
        self.conn = SilentConnection()
        self.retry = RetryPolicy(deadline=deadline)
        self.closed = False
        self.servers = [self.conn.address]
        self.dropped: list[Any] = []

    def connection(self) -> SilentConnection:
        return self.conn

    def connection_for(self, op: str, home: SilentConnection) -> SilentConnection:
        return home

    def leader_refused(self, conn: SilentConnection) -> None:
        pass

    def drop(self, conn: SilentConnection) -> None:
        self.dropped.append(conn)


def _pipeline(deadline: float) -> tuple[Pipeline, OneServer]:
    failover = OneServer(deadline)
    return Pipeline(failover, frozenset()), failover  # type: ignore[arg-type]


def test_answered_requests_leave_the_deadline_queue() -> None:
    pipeline, failover = _pipeline(deadline=30.0)
    try:
        futures = [pipeline.submit("set", {"path": "/a"}, lambda r: r) for _ in range(100)]
        for request_id in list(failover.conn.sent):
            failover.conn.answer(request_id, {"n": request_id})
        assert [f.result(timeout=5) for f in futures] == [{"n": i} for i in range(1, 101)]
        last = pipeline.submit("set", {"path": "/a"}, lambda r: r)  # trims the answered ones
        assert len(pipeline._deadlines) == 1 and not last.done()
    finally:
        pipeline.close()


def test_unanswered_requests_time_out_in_order_and_are_withdrawn() -> None:
    pipeline, failover = _pipeline(deadline=0.3)
    try:
        first = pipeline.submit("set", {"path": "/a"}, lambda r: r)
        second = pipeline.submit("set", {"path": "/b"}, lambda r: r)
        started = time.monotonic()
        for future in (first, second):
            with pytest.raises(Timeout):
                future.result(timeout=5)
        assert time.monotonic() - started < 3
        assert failover.conn.withdrawn == [1, 2]
        assert failover.dropped  # a silent server counts as gone, as on the synchronous path
    finally:
        pipeline.close()


def test_a_deadline_earlier_than_the_last_one_still_fires_on_time() -> None:
    """One policy per client keeps deadlines in order; a policy changed mid-way (a shorter
    deadline) must not wait behind the longer ones queued before it."""
    pipeline, failover = _pipeline(deadline=60.0)
    try:
        slow = pipeline.submit("set", {"path": "/a"}, lambda r: r)
        failover.retry = RetryPolicy(deadline=0.2)
        quick = pipeline.submit("set", {"path": "/b"}, lambda r: r)
        with pytest.raises(Timeout):
            quick.result(timeout=5)
        assert not slow.done()
    finally:
        pipeline.close()
