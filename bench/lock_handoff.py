"""Where a contended lock's hand-off goes, seen from the clients.

    python bench/lock_handoff.py [contenders] [seconds]     # 2 and 4 by default

On a fresh 3-node cluster, ``contenders`` clients (threads, one ``Client`` each, spread over
the nodes) take turns on one lock: acquire, release, again. Prints hand-offs per second, the
``release`` call's p50, and the p50 from a holder starting its release to the next holder's
``acquire`` returning (one clock: ``time.monotonic`` in one process). A hand-off is two writes
(the release, and the holder's acquire again, which overlaps the next holder's release).
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_cluster import bench_cluster  # noqa: E402

from skylock.client import Client, Lock  # noqa: E402


def contend(servers: list[str], contenders: int, seconds: float) -> list[tuple[int, float, float, float]]:
    """(contender, acquired at, release started at, release returned at) per turn, in grant order."""
    turns: list[tuple[int, float, float, float]] = []
    guard = threading.Lock()
    stop = threading.Event()

    def turn_taker(i: int) -> None:
        with Client(servers[i % len(servers)]) as client:
            client.start_session(f"handoff-{i}", ttl=10)
            lock = Lock(client, "handoff", owner=f"c{i}")
            while not stop.is_set():
                lock.acquire()
                acquired = released = time.monotonic()
                lock.release()
                with guard:
                    turns.append((i, acquired, released, time.monotonic()))

    threads = [threading.Thread(target=turn_taker, args=(i,)) for i in range(contenders)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sorted(turns, key=lambda turn: turn[1])


def main() -> None:
    contenders = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 4.0
    serve = [sys.executable, "-m", "skylock.cli", "serve", "--log-level", "warning", "--config"]
    with bench_cluster(lambda node, config, root: [*serve, str(config)]) as cluster:
        turns = contend(cluster.servers, contenders, seconds)
    release = [(done - started) * 1e3 for _, _, started, done in turns]
    handoff = [(nxt[1] - cur[2]) * 1e3 for cur, nxt in zip(turns, turns[1:]) if cur[0] != nxt[0]]
    print(f"{contenders} contenders: {len(turns) / seconds:,.0f} hand-offs/s; release call p50 "
          f"{statistics.median(release):.2f} ms; release started -> next holder's acquire returns p50 "
          f"{statistics.median(handoff):.2f} ms")


if __name__ == "__main__":
    main()
