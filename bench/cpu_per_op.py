"""What one operation costs each node process: CPU time and thread wake-ups (context switches).

    python bench/cpu_per_op.py            # a fresh 3-node cluster on free loopback ports

On these 2-core VMs a write's latency follows how often threads sleep and wake more than how
much Python runs: this prints, for sequential writes, pipelined writes (16 ``set_async`` in
flight) and sequential linearizable reads through the leader, each node's CPU microseconds and
context switches per operation (from /proc, so every thread counts, ZeroMQ's I/O threads too),
then the leader's busiest threads under sequential writes. Linux only (reads /proc).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_cluster import bench_cluster  # noqa: E402

from skylock.client import Client  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
VALUE = b"x" * 100


def thread_counters(pid: int) -> dict[int, tuple[float, int]]:
    """tid -> (CPU seconds, context switches) of every thread of ``pid``."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            status = (task / "status").read_text()
        except FileNotFoundError:
            continue  # the thread ended
        switches = sum(int(line.split()[1]) for line in status.splitlines() if "ctxt_switches" in line)
        out[int(task.name)] = ((int(fields[11]) + int(fields[12])) / TICKS, switches)
    return out


def totals(pid: int) -> tuple[float, int]:
    counters = thread_counters(pid).values()
    return sum(c for c, _ in counters), sum(s for _, s in counters)


def measure(label: str, run: Callable[[int], None], n: int, pids: dict[int, int]) -> None:
    before = {node: totals(pid) for node, pid in pids.items()}
    start = time.perf_counter()
    run(n)
    elapsed = time.perf_counter() - start
    parts = [f"{label:22s} {n / elapsed:7,.0f} ops/s"]
    for node, pid in sorted(pids.items()):
        cpu, switches = totals(pid)
        parts.append(f"node {node}: {(cpu - before[node][0]) / n * 1e6:5.0f} us cpu, "
                     f"{(switches - before[node][1]) / n:4.1f} cs")
    print(" | ".join(parts))


def busiest_threads(pid: int, run: Callable[[int], None], n: int) -> None:
    """Per-thread CPU and wake-ups of ``pid`` while ``run(n)`` goes (thread names from py-spy's
    view are not available here, so threads are shown by id and CPU share)."""
    before = thread_counters(pid)
    start = time.perf_counter()
    run(n)
    elapsed = time.perf_counter() - start
    rows = []
    for tid, (cpu, switches) in thread_counters(pid).items():
        cpu0, switches0 = before.get(tid, (0.0, 0))
        name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip() if Path(f"/proc/{pid}/task/{tid}").exists() else "?"
        rows.append(((cpu - cpu0) / n * 1e6, (switches - switches0) / n, tid, name))
    print(f"leader threads under sequential writes ({n / elapsed:,.0f} ops/s):")
    for cpu, switches, tid, name in sorted(rows, reverse=True)[:6]:
        print(f"  tid {tid:>7} {name:14s} {cpu:5.0f} us cpu/op, {switches:4.1f} cs/op")


def main() -> None:
    serve = [sys.executable, "-m", "skylock.cli", "serve", "--log-level", "warning", "--config"]
    with bench_cluster(lambda node, config, root: [*serve, str(config)]) as cluster, \
            Client([cluster.servers[cluster.leader - 1]]) as client:
        client.create("/cpu", b"")

        def writes(n: int) -> None:
            for _ in range(n):
                client.set("/cpu", VALUE)

        def pipelined(n: int) -> None:
            window = []
            for _ in range(n):
                window.append(client.set_async("/cpu", VALUE))
                if len(window) >= 16:
                    window.pop(0).result()
            for future in window:
                future.result()

        def reads(n: int) -> None:
            for _ in range(n):
                client.get("/cpu")

        writes(300)
        print(f"leader: node {cluster.leader}")
        for _ in range(2):
            measure("sequential set", writes, 2000, cluster.pids)
            measure("16 set_async in flight", pipelined, 4000, cluster.pids)
            measure("sequential get", reads, 3000, cluster.pids)
        busiest_threads(cluster.pids[cluster.leader], writes, 2000)


if __name__ == "__main__":
    main()
