"""Fixtures for the fault suite: a 3-node cluster on the best available fault mechanism,
a seeded nemesis, a shared history, and the history written to a file on failure.

Environment: SKYLOCK_FAULT_SECONDS (fault time per scenario, default 4: the CI run),
SKYLOCK_FAULT_SEED (replay a schedule), SKYLOCK_FAULT_MECHANISM (auto | netns | filter),
SKYLOCK_FAULT_HISTORY_DIR (where failed histories go), SKYLOCK_FAULT_MODES (e.g. ``open,secure``:
run every scenario in each of these modes; unset, the CI default of ``modes_for``).
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

from skylock.errors import Unauthenticated
from tests.checker.history import History
from tests.fault.nemesis import ALL_FAULTS, Nemesis
from tests.fault.net import FilterCluster, FilterNetwork, NetnsCluster, NetnsNetwork, netns_available

SECONDS = float(os.environ.get("SKYLOCK_FAULT_SECONDS", "4"))
MODES = ("open", "secure")
#: scenarios that also run in secure mode when SKYLOCK_FAULT_MODES is unset (CI): CI's
#: 10-minute budget on 2 cores does not allow doubling the whole suite
SECURE_IN_CI = frozenset({"register[crash]", "register[partition]", "locks"})


def modes_for(scenario: str) -> list[str]:
    """The security modes ``scenario`` runs in: SKYLOCK_FAULT_MODES if set, else open
    everywhere plus secure for the ``SECURE_IN_CI`` subset."""
    wanted = os.environ.get("SKYLOCK_FAULT_MODES", "").strip()
    if wanted:
        chosen = [m.strip() for m in wanted.split(",") if m.strip()]
        unknown = [m for m in chosen if m not in MODES]
        if unknown or not chosen:
            raise ValueError(f"SKYLOCK_FAULT_MODES: unknown mode(s) {unknown or wanted!r}; use {', '.join(MODES)}")
        return chosen
    return ["open", "secure"] if scenario in SECURE_IN_CI else ["open"]


@dataclass
class FaultRun:
    cluster: Any
    net: NetnsNetwork | FilterNetwork
    history: History
    seed: int
    mode: str = "open"
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


def assert_secure(cluster: Any) -> None:
    """A secure scenario must really run secure: the CURVE handshake with the generated
    keys works, and the same client with a wrong token is refused."""
    wrong = cluster.client(token="not-the-root-token", request_timeout=10.0)
    try:
        wrong.get("/")
    except Unauthenticated:
        return
    finally:
        wrong.close()
    raise AssertionError("a secure cluster answered a request with a wrong token")


@pytest.fixture
def fault_mode(request: pytest.FixtureRequest) -> str:
    """open or secure: scenarios parametrize it indirectly with ``modes_for``."""
    return str(getattr(request, "param", "open"))


@pytest.fixture
def fault_run(tmp_path: Path, request: pytest.FixtureRequest, fault_mode: str) -> Iterator[FaultRun]:
    seed = int(os.environ.get("SKYLOCK_FAULT_SEED") or random.randrange(1, 2**31))
    name = request.node.name
    secure = fault_mode == "secure"
    print(f"\n[{name}] seed={seed} mechanism={MECHANISM} mode={fault_mode} seconds={SECONDS}")
    history = History(meta={"seed": seed, "scenario": name, "mechanism": MECHANISM, "mode": fault_mode,
                            "t0": time.monotonic()})
    if MECHANISM == "netns":
        net: NetnsNetwork | FilterNetwork = NetnsNetwork(3)
    else:
        net = FilterNetwork(tmp_path, 3)
    cluster = None
    run = None
    try:
        net.setup()
        cluster = (NetnsCluster if MECHANISM == "netns" else FilterCluster)(tmp_path, net,  # type: ignore[arg-type]
                                                                            secure=secure)
        cluster.start()
        cluster.leader(timeout=30)
        if secure:
            assert_secure(cluster)
        run = FaultRun(cluster, net, history, seed, mode=fault_mode)
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
