"""Regression tests for bugs the fault suite found (see tests/fault/FINDINGS.md)."""

from __future__ import annotations

from skylock.actors.pending import PendingRequests


def test_pending_tags_do_not_repeat_across_restarts() -> None:
    """F1: a restarted node re-applies entries it proposed before the crash; if its new
    requests reuse those tags, clients get old entries' results (seed 66340050)."""
    before, after = PendingRequests(), PendingRequests()  # two incarnations of one node
    old = {before.next_tag() for _ in range(1000)}
    new = {after.next_tag() for _ in range(1000)}
    assert not old & new
