"""Thousands of seeded cluster runs of the real Raft core (see tests/sim/README.md).

SKYLOCK_SIM_SEEDS=N runs seeds 0..N-1 (default 2000), even seeds on 3 nodes and
odd seeds on 5; SKYLOCK_SIM_SEED=S runs exactly seed S. A failure names its seed;
``python -m tests.sim.replay S`` reproduces it with the full trace.
"""

from __future__ import annotations

import os

import pytest

from .cluster import replay, run_seed

CHUNKS = 20


def _chunks() -> list[range]:
    one = os.environ.get("SKYLOCK_SIM_SEED")
    if one is not None:
        return [range(int(one), int(one) + 1)]
    total = int(os.environ.get("SKYLOCK_SIM_SEEDS", 2000))
    size = max(1, -(-total // CHUNKS))
    return [range(lo, min(lo + size, total)) for lo in range(0, total, size)]


@pytest.mark.parametrize("seeds", _chunks(), ids=lambda r: f"seeds{r.start}-{r.stop - 1}")
def test_seeds(seeds: range) -> None:
    for seed in seeds:
        run_seed(seed)  # raises SimFailure naming the seed and the last events


@pytest.mark.parametrize("seed", [7, 8])
def test_same_seed_same_run(seed: int) -> None:
    """Determinism is what makes a failing seed worth printing."""
    a = replay(seed, verbose=False)
    b = replay(seed, verbose=False)
    assert a._trace == b._trace
    assert a.result == b.result
    assert a.events > 100


def test_different_seeds_differ() -> None:
    assert run_seed(1).result != run_seed(3).result
