"""Where does one write's time go? A per-stage timeline across the three node processes.

    python bench/trace_write.py             # warm up, then trace one `set` sent to the leader

Each node runs as `skylock serve` with the stages below wrapped to log a monotonic timestamp on
entry and exit (CLOCK_MONOTONIC is one clock for every process on the machine), so the printed
timeline shows every hop of one write: gateway, Ready processing and WAL, peer send/receive,
apply. This is how the figures in bench/RESULTS.md ("Where these stand") were taken.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from skylock.client import Client  # noqa: E402
from skylock.errors import SkyLockError  # noqa: E402
from skylock.layout import free_ports, local_cluster  # noqa: E402

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


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="skylock-trace-") as tmp:
        root = Path(tmp)
        ports = free_ports(9)
        configs = local_cluster(3, root, client_ports=ports[:3], peer_ports=ports[3:6], http_ports=ports[6:])
        script = NODE.format(stages=STAGES)
        procs = [
            subprocess.Popen([sys.executable, "-c", script, str(root / f"trace{i + 1}.log"), "serve", "--config",
                              str(cfg), "--log-level", "warning"])
            for i, cfg in enumerate(configs)
        ]
        try:
            servers = [f"127.0.0.1:{p}" for p in ports[:3]]
            with Client(servers) as probe:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        leader = int(probe.leader()["leader_id"])
                        break
                    except SkyLockError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.1)
            with Client([servers[leader - 1]]) as client:
                client.create("/trace", b"0")
                latencies = []
                for _ in range(300):
                    t0 = time.perf_counter()
                    client.set("/trace", b"x" * 100)
                    latencies.append(time.perf_counter() - t0)
                latencies.sort()
                time.sleep(0.05)  # let the previous write's tail (followers applying it) finish
                start = time.monotonic()
                client.set("/trace", b"y" * 100)
                end = time.monotonic()
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait()
        marks = []
        for node in (1, 2, 3):
            for line in (root / f"trace{node}.log").read_text().splitlines():
                ts, label, thread = line.split()
                if start - 0.0005 <= float(ts) <= end + 0.0005:
                    marks.append((float(ts), node, label, thread))
    print(f"leader: node {leader}; {len(latencies)} warm-up writes: p50 {latencies[len(latencies) // 2] * 1000:.2f} ms")
    print(f"traced write: {(end - start) * 1000:.3f} ms end to end (client call to return)")
    print("   ms  node  stage (< enter, > exit)  thread")
    for ts, node, label, thread in sorted(marks):
        print(f"{(ts - start) * 1000:7.3f}  {node}     {label:12s}  {thread[-6:]}")
    for node in sorted({m[1] for m in marks}):
        print(f"node {node}: {hand_offs(sorted(marks), node)} hand-offs between threads"
              f"{' (leader)' if node == leader else ''}")


def hand_offs(marks: list[tuple[float, int, str, str]], node: int) -> int:
    """How many times the traced write's stages on ``node`` move to another thread: each is a
    wake-up of a waiting thread (a queue hand-off) inside that node."""
    threads = [thread for _, n, label, thread in marks if n == node and label.endswith("<")]
    return sum(1 for a, b in zip(threads, threads[1:]) if a != b)


if __name__ == "__main__":
    main()
