"""What a linearizable read costs the cluster under load: peer messages and CPU per read.

    python bench/read_rounds.py                 # 4 processes x 4 threads of linearizable gets, 5 s
    python bench/read_rounds.py --consistency local --seconds 8

Sixteen readers (four processes of four threads, as the side-by-side bench's 4 x 4 row) spread
over the three nodes of a fresh cluster. Each node runs as `skylock serve` wrapped to count the
Raft messages its RaftNode receives and sends, by type; the script prints reads per second,
each node's CPU per read (every thread, from /proc) and the peer messages per read. A leader
confirms its leadership for ReadIndex with a heartbeat round (two HEARTBEATs, two answers);
a follower's reads go to the leader as a READ_INDEX and come back as a READ_INDEX_RESP.
Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_cluster import bench_cluster  # noqa: E402
from bench.cpu_per_op import totals  # noqa: E402

from skylock.client import Client  # noqa: E402

PROCESSES, THREADS = 4, 4

#: a node that counts its Raft messages by type and writes the counts to a file twice a second
NODE = """
import collections, json, os, sys, threading, time
out = sys.argv[1]
counts = collections.Counter()
from skylock.actors.raft_node import RaftNode
received, send = RaftNode._on_peer_message, RaftNode._send
def counted_receive(self, msg):
    counts["in " + msg.message.type.name] += 1
    return received(self, msg)
def counted_send(self, rd):
    for m in rd.messages:
        counts["out " + m.type.name] += 1
    return send(self, rd)
RaftNode._on_peer_message, RaftNode._send = counted_receive, counted_send
def dump():
    while True:
        time.sleep(0.5)
        with open(out + ".tmp", "w") as f:
            f.write(json.dumps(dict(counts)))
        os.replace(out + ".tmp", out)
threading.Thread(target=dump, daemon=True).start()
from skylock.cli import main
sys.argv = ["skylock"] + sys.argv[2:]
main()
"""


def reader(servers: list[str], first: int, consistency: str, stop_at: float, results: mp.Queue) -> None:
    """One process of THREADS readers, each with its own client on one node (round robin)."""
    clients = [Client([servers[(first + i) % len(servers)]]) for i in range(THREADS)]
    done = [0] * THREADS

    def run(i: int) -> None:
        while time.monotonic() < stop_at:
            clients[i].get("/reads", consistency=consistency)
            done[i] += 1

    cpu = time.process_time()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    results.put((sum(done), time.process_time() - cpu))


def read_counts(root: Path, node: int) -> Counter[str]:
    path = root / f"messages{node}.json"
    return Counter(json.loads(path.read_text())) if path.exists() else Counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--consistency", choices=("linearizable", "local"), default="linearizable")
    args = parser.parse_args()

    def counted_node(node: int, config: Path, root: Path) -> list[str]:
        return [sys.executable, "-c", NODE, str(root / f"messages{node}.json"), "serve", "--config", str(config),
                "--log-level", "warning"]

    with bench_cluster(counted_node) as cluster:
        with Client(cluster.servers) as client:
            client.create("/reads", b"x" * 100)
        time.sleep(1.0)  # the counts file of every node is written at least once
        before = {n: read_counts(cluster.root, n) for n in (1, 2, 3)}
        cpu_before = {n: totals(pid)[0] for n, pid in cluster.pids.items()}
        results: mp.Queue = mp.Queue()
        stop_at = time.monotonic() + args.seconds
        procs = [mp.Process(target=reader, args=(cluster.servers, p * THREADS, args.consistency, stop_at, results))
                 for p in range(PROCESSES)]
        for p in procs:
            p.start()
        outcomes = [results.get() for _ in procs]
        for p in procs:
            p.join()
        cpu_after = {n: totals(pid)[0] for n, pid in cluster.pids.items()}
        time.sleep(1.0)  # the counts of the run are written
        after = {n: read_counts(cluster.root, n) for n in (1, 2, 3)}
        leader = cluster.leader
    reads = sum(n for n, _ in outcomes)
    print(f"{PROCESSES} x {THREADS} {args.consistency} readers: {reads / args.seconds:,.0f} reads/s, "
          f"client CPU {sum(c for _, c in outcomes) / reads * 1e6:.0f} us per read (leader: node {leader})")
    for node in (1, 2, 3):
        delta = after[node] - before[node]
        messages = ", ".join(f"{kind} {count / reads:.3f}" for kind, count in sorted(delta.items()))
        print(f"node {node}{'*' if node == leader else ' '}: {(cpu_after[node] - cpu_before[node]) / reads * 1e6:4.0f} us "
              f"CPU per read; Raft messages per read: {messages or 'none'}")
    rounds = (after[leader] - before[leader])["out HEARTBEAT"] / 2 / reads
    print(f"heartbeat rounds of the leader per read: {rounds:.3f}")


if __name__ == "__main__":
    if os.name != "posix" or not Path("/proc/self/stat").exists():
        raise SystemExit("Linux only: CPU figures come from /proc")
    main()
