"""``StateMachine.tallies`` (what /metrics reports as znode count, bytes and ephemerals) is
kept as nodes change; it must always equal a full recount, after refused commands (undone),
session ends and a snapshot restore alike."""

from __future__ import annotations

import random

import pytest

from skylock.state import StateMachine

from .test_determinism import random_command


def recount(sm: StateMachine) -> dict[str, int]:
    znodes = data = ephemerals = 0
    stack = ["/"]
    while stack:
        path = stack.pop()
        value, stat = sm.get(path)
        znodes, data, ephemerals = znodes + 1, data + len(value), ephemerals + bool(stat.ephemeral_owner)
        stack.extend(path.rstrip("/") + "/" + name for name in sm.children(path)[0])
    return {"znodes": znodes, "znode_bytes": data, "ephemerals": ephemerals}


@pytest.mark.parametrize("seed", range(4))
def test_tallies_match_a_recount_after_every_entry(seed: int) -> None:
    rng = random.Random(seed)
    sm = StateMachine()
    moved = set()
    for step in range(400):
        sm.apply(step + 1, random_command(rng, sm, 1000 + step))
        assert sm.tallies() == recount(sm), f"step {step}"
        moved |= {k for k, v in sm.tallies().items() if v > (1 if k == "znodes" else 0)}
    assert moved == {"znodes", "znode_bytes", "ephemerals"}  # the stream exercised every tally
    restored = StateMachine()
    restored.restore(sm.snapshot())
    assert restored.tallies() == sm.tallies()
