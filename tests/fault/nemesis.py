"""The nemesis: a seeded schedule of faults injected into a real cluster.

Process faults use signals on the node processes (SIGKILL then restart; SIGSTOP
then SIGCONT for longer than the election timeout). Network faults go through the
cluster's network (``tests.fault.net``): partitions (one node from the majority,
a bridge node that sees both halves, the leader isolated) and degraded links.
Every fault is noted in the history (``fault`` notes with start/end) and printed,
and ``heal`` undoes whatever is still in effect.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from tests.checker.history import History
from tests.fault.net import FilterNetwork, NetnsNetwork

#: longer than election_timeout_max (600ms in the test config), so a paused leader is replaced
PAUSE_RANGE = (1.0, 2.0)
FAULT_RANGE = (1.0, 2.5)
QUIET_RANGE = (0.5, 1.2)

ALL_FAULTS = ("kill_leader", "kill_random", "pause_leader", "pause_random", "partition_minority",
              "partition_bridge", "isolate_leader", "degrade")


class Nemesis:
    def __init__(self, cluster: Any, net: NetnsNetwork | FilterNetwork, history: History, seed: int,
                 faults: tuple[str, ...] = ALL_FAULTS) -> None:
        self.cluster = cluster
        self.net = net
        self.history = history
        self.rng = random.Random(seed)
        self.faults = faults
        self.injected: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._down: set[int] = set()
        self._paused: set[int] = set()

    # ---- schedule --------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="nemesis", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop injecting and heal everything."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.heal()

    def _run(self) -> None:
        while not self._stop.wait(self.rng.uniform(*QUIET_RANGE)):
            kind = self.rng.choice(self.faults)
            duration = self.rng.uniform(*(PAUSE_RANGE if kind.startswith("pause") else FAULT_RANGE))
            try:
                self.inject(kind, duration)
            except Exception as exc:  # noqa: BLE001 - a nemesis hiccup is reported, not fatal
                self._log(f"nemesis: {kind} failed: {exc!r}")
            self.heal()

    def inject(self, kind: str, duration: float) -> None:
        """Apply one fault for ``duration`` seconds (interruptible by ``stop``)."""
        nodes = sorted(self.cluster.procs)
        target = self._leader() if kind.endswith("leader") else self.rng.choice(nodes)
        start = time.monotonic()
        what = f"{kind} node {target}"
        if kind.startswith("kill"):
            self.cluster.kill(target)
            self._down.add(target)
        elif kind.startswith("pause"):
            self.cluster.pause(target)
            self._paused.add(target)
        elif kind in ("partition_minority", "isolate_leader"):
            self.net.block({frozenset({target, o}) for o in nodes if o != target})
            what = f"{kind}: {{{target}}} | {sorted(set(nodes) - {target})}"
        elif kind == "partition_bridge":
            a, b = [o for o in nodes if o != target][:2]
            self.net.block({frozenset({a, b})})
            what = f"partition_bridge: {a} x {b}, bridge {target}"
        elif kind == "degrade":
            how = self.net.degrade(self.rng.choice([20, 50, 100]), 10, self.rng.choice([5, 10, 20]))
            what = f"degrade all peer links ({how})"
        else:
            raise ValueError(kind)
        self._stop.wait(duration)
        note = self.history.note("fault", what=what, start=start, end=time.monotonic())
        self.injected.append(f"{note['start'] - self.history.meta.get('t0', 0):7.2f}s +{duration:.1f}s  {what}")
        self._log(f"nemesis: {self.injected[-1]}")

    def heal(self) -> None:
        for nid in sorted(self._paused):
            if nid in self.cluster.procs:
                self.cluster.resume(nid)
        self._paused.clear()
        for nid in sorted(self._down):
            self.cluster.start(nid)
        self._down.clear()
        self.net.heal()

    def _leader(self) -> int:
        """The node most live nodes name as leader right now (random if they do not know)."""
        votes: dict[int, int] = {}
        for nid in sorted(self.cluster.procs):
            try:
                leader = int(self.cluster.node_client(nid).call("cluster.leader")["leader_id"])
            except Exception:  # noqa: BLE001
                continue
            if leader in self.cluster.procs:
                votes[leader] = votes.get(leader, 0) + 1
        return max(votes, key=lambda k: votes[k]) if votes else self.rng.choice(sorted(self.cluster.procs))

    @staticmethod
    def _log(line: str) -> None:
        print(line, flush=True)

