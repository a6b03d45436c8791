"""Fault scenarios against a real 3-node cluster: workload + nemesis, heal, then check.

Each test prints its seed and the faults it injected; SKYLOCK_FAULT_SECONDS sets the
fault window (short in CI), SKYLOCK_FAULT_SEED replays a schedule. Each scenario runs
in the security modes ``modes_for`` gives it (open, and secure for a subset in CI;
SKYLOCK_FAULT_MODES=open,secure runs all of them in both).
"""

from __future__ import annotations

import random

import pytest

from tests.checker.linearizability import check_history, explain
from tests.checker.promises import check_durability, check_locks, check_sessions, check_watches
from tests.fault.conftest import FaultRun, modes_for
from tests.fault.nemesis import ALL_FAULTS
from tests.fault.workloads import DurabilityWorkload, LockWorkload, RegisterWorkload, SessionWorkload, WatchWorkload

pytestmark = pytest.mark.timeout(600)

REGISTER_FAULTS = {
    "crash": ("kill_leader", "kill_random"),
    "pause": ("pause_leader", "pause_random"),
    "partition": ("partition_minority", "partition_bridge", "isolate_leader"),
    "degrade": ("degrade", "partition_minority"),
}


def _linearizable(run: FaultRun) -> None:
    ops = run.history.ops
    results = check_history(ops, inits=run.history.meta["inits"])
    for r in results:
        print(explain(r, ops))
    counts = {s: sum(o.status == s for o in ops) for s in ("ok", "fail", "unknown")}
    print(f"register ops: {counts}")
    assert counts["ok"] > 20, "the workload made too little progress to prove anything"
    assert all(r.ok for r in results), "\n".join(explain(r, ops) for r in results if not r.ok)


def _run(fault_run: FaultRun, workload: type, faults: tuple[str, ...] = ALL_FAULTS, join: bool = True):
    """Start the workload, run the nemesis for the fault window, heal; returns the workload."""
    work = workload(fault_run.cluster, fault_run.history, random.Random(fault_run.seed))
    work.setup()
    fault_run.start_nemesis(faults)
    fault_run.run_for()
    if join:
        work.join()
    return work


def in_modes(scenario: str) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("fault_mode", modes_for(scenario), indirect=True)


@pytest.mark.parametrize(("faults", "fault_mode"),
                         [(f, m) for f in sorted(REGISTER_FAULTS) for m in modes_for(f"register[{f}]")],
                         indirect=["fault_mode"])
def test_register_linearizable(fault_run: FaultRun, faults: str) -> None:
    """Reads, writes and CAS stay linearizable through crashes, pauses, partitions, lossy links."""
    _run(fault_run, RegisterWorkload, REGISTER_FAULTS[faults])
    _linearizable(fault_run)


@in_modes("locks")
def test_locks_exclusive_and_fenced(fault_run: FaultRun) -> None:
    _run(fault_run, LockWorkload)
    grants = sum(o.f == "lock" and o.status == "ok" for o in fault_run.history.ops)
    print(f"lock grants: {grants}")
    assert grants > 5
    assert check_locks(fault_run.history) == []


@in_modes("sessions")
def test_sessions_expire_on_time_and_only_when_dead(fault_run: FaultRun) -> None:
    _run(fault_run, SessionWorkload, join=False).finish()
    h = fault_run.history
    h.meta.update(check_interval=0.05, margin=1.0)
    print(f"abandoned sessions: {len(h.notes('abandoned'))}, removals seen: {len(h.notes('ephemeral_gone'))}")
    assert h.notes("abandoned")
    assert check_sessions(h, check_interval=0.05, margin=1.0) == []


@in_modes("watches")
def test_watches_lose_nothing(fault_run: FaultRun) -> None:
    _run(fault_run, WatchWorkload, ("kill_random", "pause_random", "partition_minority", "isolate_leader",
                                    "degrade")).barrier()
    h = fault_run.history
    print(f"acked writes: {sum(o.f == 'set' and o.status == 'ok' for o in h.ops)}, "
          f"events: {len(h.notes('watch_event'))}, registrations: {len(h.notes('watch_registered'))}")
    assert check_watches(h) == []


@in_modes("durability")
def test_durability_whole_cluster_kill(fault_run: FaultRun) -> None:
    """Faults, then kill -9 of every node at once mid-write, restart: every acked create is there."""
    work = _run(fault_run, DurabilityWorkload, ("kill_random", "kill_leader", "pause_random", "partition_minority"),
                join=False)
    cluster = fault_run.cluster
    for nid in sorted(cluster.procs):
        cluster.kill(nid)
    fault_run.history.note("fault", what="kill -9 all nodes", start=0, end=0)
    print("nemesis: kill -9 of the whole cluster during writes, then restart")
    work.join()
    cluster.start()
    cluster.leader(timeout=30)
    client = cluster.client()
    present = work.present(client)
    fault_run.history.meta["present"] = sorted(present)
    acked = sum(o.f == "create" and o.status == "ok" for o in fault_run.history.ops)
    print(f"acknowledged creates: {acked}, present after restart: {len(present)}")
    assert acked > 10
    assert check_durability(fault_run.history, present) == []
