"""Mutual exclusion between processes, the way users rely on it: 8 client processes
increment a counter kept in a plain file, each read-modify-write under the Lock.
A lost update or an overlapping hold would show in the final count or the log.
And lock-delay: a holder process killed with SIGKILL keeps its lock from the next
waiter for the delay after its session expires."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from skylock.client import Lock
from tests.client.workers import run_workers
from tests.integration.cluster import LocalCluster, wait_until

WORKER = """
import json, sys, time
from pathlib import Path
from skylock.client import Client, Lock
servers, counter, log, rounds, me = sys.argv[1].split(","), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
with Client(servers) as client:
    client.start_session(me, ttl=10)
    for _ in range(rounds):
        with Lock(client, "file-counter", owner=me) as lock:
            start = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process on this machine
            value = int(counter.read_text())
            counter.write_text(str(value + 1))
            end = time.monotonic()
            with log.open("a") as f:
                f.write(json.dumps({"who": me, "token": lock.token, "start": start, "end": end, "saw": value}) + "\\n")
"""


def test_eight_processes_increment_a_file_counter_without_lost_updates(cluster: LocalCluster, tmp_path: Path) -> None:
    counter, log = tmp_path / "counter", tmp_path / "holds.jsonl"
    counter.write_text("0")
    rounds = 10
    run_workers(WORKER, [[",".join(cluster.servers), str(counter), str(log), str(rounds), f"p{i}"] for i in range(8)])
    assert int(counter.read_text()) == 8 * rounds  # no lost update
    holds = sorted((json.loads(line) for line in log.read_text().splitlines()), key=lambda h: h["start"])
    assert len(holds) == 8 * rounds
    for before, after in zip(holds, holds[1:]):
        assert before["end"] <= after["start"], (before, after)  # no overlapping holds
        assert before["token"] < after["token"], (before, after)  # fencing tokens increase with each grant
    assert [h["saw"] for h in holds] == list(range(8 * rounds))


HOLDER = """
import signal, sys
from skylock.client import Client, Lock
client = Client(sys.argv[1].split(","))
client.start_session("delayed-holder", ttl=float(sys.argv[3]))
lock = Lock(client, sys.argv[2], owner="doomed", lock_delay=float(sys.argv[4]))
assert lock.acquire(timeout=30)
print("held", flush=True)
signal.pause()  # holds the lock until kill -9
"""


def test_lock_delay_holds_the_next_grant_back_after_the_holder_is_killed(cluster: LocalCluster) -> None:
    """Chubby's lock-delay, enforced by the cluster: the holder's process dies (SIGKILL, so
    its session expires after its TTL), and the waiter is granted only ``lock_delay`` later."""
    name, ttl, lock_delay = "delayed-lock", 1.0, 2.5
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, ",".join(cluster.servers), name, str(ttl),
                               str(lock_delay)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        waiter_client = cluster.client()
        waiter_client.start_session("patient", ttl=10)
        granted_at: list[float] = []
        waiter = Lock(waiter_client, name, owner="patient")
        thread = threading.Thread(target=lambda: waiter.acquire(timeout=60) and granted_at.append(time.monotonic()))
        thread.start()
        wait_until(lambda: len(waiter_client.lock_info(name)["waiters"]) == 1, what="the waiter to queue")
        holder.kill()
        killed_at = time.monotonic()
        holder.wait()
        info = wait_until(lambda: (i := waiter_client.lock_info(name)).get("delay") and i, timeout=20,
                          what="the lock to be delayed by the holder's expiry")
        seen_delayed_at = time.monotonic()
        assert info["holder"] is None and info["delay"]["lock_delay_ms"] == int(lock_delay * 1000)
        assert not granted_at, "granted while the lock was delayed"
        thread.join(timeout=30)
        assert granted_at and waiter.is_held
        assert granted_at[0] - killed_at >= lock_delay  # the expiry came after the kill, the delay after it
        assert granted_at[0] - seen_delayed_at >= lock_delay / 2  # seen as it began, not just before its end
        assert "delay" not in waiter_client.lock_info(name)
        waiter.release()
    finally:
        holder.kill()
        holder.wait()
