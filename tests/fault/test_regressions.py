"""Regression tests for bugs the fault suite found (see tests/fault/FINDINGS.md)."""

from __future__ import annotations

from skylock.actors.messages import ReplyTo
from skylock.actors.pending import PendingRequests


def test_pending_tags_do_not_repeat_across_restarts() -> None:
    """F1: a restarted node re-applies entries it proposed before the crash; if its new
    requests reuse those tags, clients get old entries' results (seed 66340050)."""
    before, after = PendingRequests(), PendingRequests()  # two incarnations of one node
    reply = ReplyTo(b"conn", 1)
    old = {before.add(reply, "set", 0.0) for _ in range(1000)}
    new = {after.add(reply, "set", 0.0) for _ in range(1000)}
    assert not old & new
