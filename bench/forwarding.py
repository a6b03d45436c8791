"""Writes through the leader against writes through a follower: latency, pipelined rate, cost.

    python bench/forwarding.py

On a fresh 3-node cluster, through the leader and then through a follower, one client:
sequential ``set``, lock acquire and lock release latency (p50 over 1,000 rounds of the three),
then 16 ``set_async`` in flight for a few seconds, with the three nodes' CPU per write (from
/proc) and the leader's entries per fsync and per append sent (from its ``/metrics``). A forwarded
write pays one more hop each way and reaches the leader in the follower's batches. The SDK sends
writes to the leader by itself (skylock/client/leader_route.py); this measures what a client
that does not (``writes_to_leader=False``, or another protocol implementation) gets.
"""

from __future__ import annotations

import re
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_cluster import BenchCluster, bench_cluster  # noqa: E402
from bench.cpu_per_op import totals  # noqa: E402

from skylock.client import Client, Lock  # noqa: E402
from skylock.errors import NodeExists  # noqa: E402

VALUE = b"x" * 100
ROUNDS = 1000
IN_FLIGHT = 16
SECONDS = 5.0


def p50(samples: list[float]) -> float:
    return sorted(samples)[len(samples) // 2] * 1e3


def latencies(client: Client) -> str:
    """p50 of set, lock acquire and lock release, one after another, after 100 warm-up rounds."""
    lock = Lock(client, "forwarding", owner="bench")
    sets, acquires, releases = [], [], []
    for i in range(ROUNDS + 100):
        t0 = time.perf_counter()
        client.set("/forwarding", VALUE)
        t1 = time.perf_counter()
        lock.acquire()
        t2 = time.perf_counter()
        lock.release()
        t3 = time.perf_counter()
        if i >= 100:
            sets.append(t1 - t0), acquires.append(t2 - t1), releases.append(t3 - t2)
    return f"set {p50(sets):.3f} ms, acquire {p50(acquires):.3f} ms, release {p50(releases):.3f} ms (p50)"


def leader_batches(cluster: BenchCluster) -> dict[str, tuple[float, float]]:
    """The leader's (count, sum) of entries per fsync and per append sent, from its /metrics."""
    port = cluster.http_ports[cluster.leader - 1]
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for kind in ("wal_entries_per_fsync", "raft_entries_per_append"):
        count = sum(float(v) for v in re.findall(rf"^skylock_{kind}_count{{.*}} (\S+)$", text, re.MULTILINE))
        total = sum(float(v) for v in re.findall(rf"^skylock_{kind}_sum{{.*}} (\S+)$", text, re.MULTILINE))
        out[kind] = (count, total)
    return out


def pipelined(client: Client, cluster: BenchCluster) -> str:
    """16 set_async in flight: writes/s, the nodes' CPU per write, the leader's batch sizes."""
    window = threading.Semaphore(IN_FLIGHT)
    done = [0]

    def finished(_future: object) -> None:
        done[0] += 1
        window.release()

    cpu_before = {node: totals(pid)[0] for node, pid in cluster.pids.items()}
    batches_before = leader_batches(cluster)
    start = time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        window.acquire()
        client.set_async("/forwarding", VALUE).add_done_callback(finished)
    for _ in range(IN_FLIGHT):
        window.acquire()
    elapsed = time.perf_counter() - start
    cpu = sum(totals(pid)[0] - cpu_before[node] for node, pid in cluster.pids.items())
    batches = leader_batches(cluster)
    sizes = []
    for kind, label in (("wal_entries_per_fsync", "per fsync"), ("raft_entries_per_append", "per append")):
        count = batches[kind][0] - batches_before[kind][0]
        total = batches[kind][1] - batches_before[kind][1]
        sizes.append(f"{total / count if count else 0:.1f} entries {label}")
    return (f"{done[0] / elapsed:,.0f} writes/s, nodes {cpu / done[0] * 1e6:.0f} us CPU per write, "
            f"leader {', '.join(sizes)}")


def main() -> None:
    serve = [sys.executable, "-m", "skylock.cli", "serve", "--log-level", "warning", "--config"]
    with bench_cluster(lambda node, config, root: [*serve, str(config)]) as cluster:
        follower = next(n for n in (1, 2, 3) if n != cluster.leader)
        for label, node in (("through the leader", cluster.leader), (f"through follower {follower}", follower)):
            # writes_to_leader=False: the follower's client must send its writes there to be forwarded
            with Client([cluster.servers[node - 1]], writes_to_leader=False) as client:
                client.start_session("forwarding", ttl=10)
                try:
                    client.create("/forwarding", b"")
                except NodeExists:  # made by the first pass
                    pass
                print(f"{label}: {latencies(client)}")
                print(f"{label}, {IN_FLIGHT} in flight: {pipelined(client, cluster)}")


if __name__ == "__main__":
    main()
