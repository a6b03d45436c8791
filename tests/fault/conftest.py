"""Fixtures for the fault suite: a 3-node cluster on the best available fault mechanism,
a seeded nemesis, a shared history, and the history written to a file on failure.

Environment: SKYLOCK_FAULT_SECONDS (fault time per scenario, default 4: the CI run),
SKYLOCK_FAULT_SEED (replay a schedule), SKYLOCK_FAULT_MECHANISM (auto | netns | filter),
SKYLOCK_FAULT_HISTORY_DIR (where failed histories go).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.checker.history import History
from tests.fault.nemesis import ALL_FAULTS, Nemesis
from tests.fault.net import FilterCluster, FilterNetwork, NetnsCluster, NetnsNetwork, netns_available

SECONDS = float(os.environ.get("SKYLOCK_FAULT_SECONDS", "4"))


@dataclass
class FaultRun:
    cluster: Any
    net: NetnsNetwork | FilterNetwork
    history: History
    seed: int
    seconds: float = SECONDS
    nemesis: Nemesis | None = None
    problems: list[str] = field(default_factory=list)

    def start_nemesis(self, faults: tuple[str, ...] = ALL_FAULTS) -> Nemesis:
        self.nemesis = Nemesis(self.cluster, self.net, self.history, self.seed, faults)
        self.nemesis.start()
        return self.nemesis

    def run_for(self, seconds: float | None = None) -> None:
        """Let the workload and the nemesis run (the scenario's fault window), then heal."""
        time.sleep(self.seconds if seconds is None else seconds)  # the fault window itself, not a settle
        if self.nemesis is not None:
            self.nemesis.stop()
        self.cluster.leader(timeout=30)


def _mechanism() -> str:
    wanted = os.environ.get("SKYLOCK_FAULT_MECHANISM", "auto")
    if wanted == "auto":
        why = netns_available()
        if why:
            print(f"network namespaces unavailable ({why}): using the transport fault filter")
        return "filter" if why else "netns"
    return wanted


MECHANISM = _mechanism()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def fault_run(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FaultRun]:
    seed = int(os.environ.get("SKYLOCK_FAULT_SEED") or random.randrange(1, 2**31))
    name = request.node.name
    print(f"\n[{name}] seed={seed} mechanism={MECHANISM} seconds={SECONDS}")
    history = History(meta={"seed": seed, "scenario": name, "mechanism": MECHANISM, "t0": time.monotonic()})
    if MECHANISM == "netns":
        net: NetnsNetwork | FilterNetwork = NetnsNetwork(3)
    else:
        net = FilterNetwork(tmp_path, 3)
    cluster = None
    run = None
    try:
        net.setup()
        cluster = (NetnsCluster if MECHANISM == "netns" else FilterCluster)(tmp_path, net)  # type: ignore[arg-type]
        cluster.start()
        cluster.leader(timeout=30)
        run = FaultRun(cluster, net, history, seed)
        yield run
    finally:
        if run is not None and run.nemesis is not None:
            run.nemesis.stop()
            print(f"[{name}] seed={seed} faults injected ({len(run.nemesis.injected)}):")
            for line in run.nemesis.injected:
                print("   ", line)
        if cluster is not None:
            cluster.close()
        net.close()
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            out = Path(os.environ.get("SKYLOCK_FAULT_HISTORY_DIR", Path(tempfile.gettempdir()) / "skylock-fault"))
            out.mkdir(parents=True, exist_ok=True)
            path = history.dump(out / f"{name}-seed{seed}.json")
            print(f"[{name}] history written to {path}; re-check with: python -m tests.checker.recheck {path}")
