"""Where does one write's time go? A per-stage timeline across the three node processes.

    python bench/trace_write.py             # warm up, then trace one `set` sent to the leader
    python bench/trace_write.py --writes 300  # each stage's median offset over 300 traced writes

Each node runs as `skylock serve` with the stages below wrapped to log a monotonic timestamp on
entry and exit (CLOCK_MONOTONIC is one clock for every process on the machine), so the printed
timeline shows every hop of one write: gateway, Ready processing and WAL, peer send/receive,
apply. This is how the figures in bench/RESULTS.md ("Where these stand") were taken.
"""

from __future__ import annotations

import argparse
import bisect
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_cluster import bench_cluster  # noqa: E402

from skylock.client import Client  # noqa: E402

#: (module, class, method, label) wrapped in each node process
STAGES = [
    ("skylock.actors.gateway", "Gateway", "on_frame", "gateway"),
    ("skylock.actors.raft_node", "RaftNode", "_flush", "ready"),
    ("skylock.actors.raft_node", "RaftNode", "_on_peer_message", "step"),
    ("skylock.storage.wal", "WAL", "save", "wal"),
    ("skylock.actors.store", "Store", "_on_apply", "apply"),
    ("skylock.net.client_server", "ClientServer", "_deliver", "reply-send"),
    ("skylock.net.peer_transport", "PeerTransport", "_deliver", "peer-send"),
    ("skylock.net.peer_transport", "PeerTransport", "_on_message", "peer-recv"),
    ("skylock.actors.store", "Store", "_answer", "answer"),
]

NODE = """
import importlib, sys, threading, time
log = open(sys.argv[1], "w", buffering=1)
for module, cls, method, label in {stages!r}:
    owner = getattr(importlib.import_module(module), cls)
    original = getattr(owner, method)
    def traced(self, *a, _original=original, _label=label, **k):
        log.write(f"{{time.monotonic():.6f}} {{_label}}< {{threading.get_ident()}}\\n")
        try:
            return _original(self, *a, **k)
        finally:
            log.write(f"{{time.monotonic():.6f}} {{_label}}> {{threading.get_ident()}}\\n")
    setattr(owner, method, traced)
from skylock.cli import main
sys.argv = ["skylock"] + sys.argv[2:]
main()
"""


#: between traced writes: long enough for a write's tail to end, short enough that the cores
#: do not fall idle (after 10 ms of idling, every wake-up on these VMs is slower)
GAP = 0.003


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=1,
                        help="trace this many writes, GAP apart, and print each stage's median offset")
    args = parser.parse_args()
    script = NODE.format(stages=STAGES)

    def traced_node(node: int, config: Path, root: Path) -> list[str]:
        return [sys.executable, "-c", script, str(root / f"trace{node}.log"), "serve", "--config", str(config),
                "--log-level", "warning"]

    with bench_cluster(traced_node) as cluster:
        leader = cluster.leader
        with Client([cluster.servers[leader - 1]]) as client:
            client.create("/trace", b"0")
            latencies = []
            for _ in range(300):
                t0 = time.perf_counter()
                client.set("/trace", b"x" * 100)
                latencies.append(time.perf_counter() - t0)
            latencies.sort()
            windows = []
            for _ in range(args.writes):
                time.sleep(GAP)  # the previous write's tail (its second ack, followers' apply) ends first
                start = time.monotonic()
                client.set("/trace", b"y" * 100)
                windows.append((start, time.monotonic()))
        cluster.stop()  # every node's trace is complete before it is read
        logs = {node: (cluster.root / f"trace{node}.log").read_text().splitlines() for node in (1, 2, 3)}
    print(f"leader: node {leader}; {len(latencies)} warm-up writes: p50 {latencies[len(latencies) // 2] * 1000:.2f} ms")
    if args.writes > 1:
        print_medians(logs, windows, leader)
        return
    start, end = windows[0]
    marks = []
    for node, lines in logs.items():
        for line in lines:
            ts, label, thread = line.split()
            if start - 0.0005 <= float(ts) <= end + 0.0005:
                marks.append((float(ts), node, label, thread))
    print(f"traced write: {(end - start) * 1000:.3f} ms end to end (client call to return)")
    print("   ms  node  stage (< enter, > exit)  thread")
    for ts, node, label, thread in sorted(marks):
        print(f"{(ts - start) * 1000:7.3f}  {node}     {label:12s}  {thread[-6:]}")
    for node in sorted({m[1] for m in marks}):
        print(f"node {node}: {hand_offs(sorted(marks), node)} hand-offs between threads"
              f"{' (leader)' if node == leader else ''}")


def print_medians(logs: dict[int, list[str]], windows: list[tuple[float, float]], leader: int) -> None:
    """Each stage's median offset from its write's start, over the traced writes (a stage's
    first mark inside a write's window counts)."""
    starts = [start for start, _ in windows]
    offsets: dict[tuple[int, str], dict[int, float]] = {}
    for node, lines in logs.items():
        for line in lines:
            ts_text, label, _ = line.split()
            ts = float(ts_text)
            i = bisect.bisect_right(starts, ts) - 1
            if i >= 0 and ts <= windows[i][1]:
                offsets.setdefault((node, label), {}).setdefault(i, ts - windows[i][0])
    total = statistics.median(end - start for start, end in windows)
    print(f"median end to end {total * 1000:.3f} ms over {len(windows)} traced writes, {GAP * 1000:.0f} ms apart")
    rows = sorted((statistics.median(by_write.values()), node, label, len(by_write))
                  for (node, label), by_write in offsets.items())
    for median, node, label, seen in rows:
        print(f"{median * 1000:7.3f} ms  node {node}{'*' if node == leader else ' '}  {label:12s} (in {seen} writes)")


def hand_offs(marks: list[tuple[float, int, str, str]], node: int) -> int:
    """How many times the traced write's stages on ``node`` move to another thread: each is a
    wake-up of a waiting thread (a queue hand-off) inside that node."""
    threads = [thread for _, n, label, thread in marks if n == node and label.endswith("<")]
    return sum(1 for a, b in zip(threads, threads[1:]) if a != b)


if __name__ == "__main__":
    main()
