"""Mutual exclusion between processes, the way users rely on it: 8 client processes
increment a counter kept in a plain file, each read-modify-write under the Lock.
A lost update or an overlapping hold would show in the final count or the log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.integration.cluster import LocalCluster

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
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, ",".join(cluster.servers), str(counter), str(log),
                          str(rounds), f"p{i}"])
        for i in range(8)
    ]
    try:
        for p in procs:
            assert p.wait(timeout=120) == 0
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert int(counter.read_text()) == 8 * rounds  # no lost update
    holds = sorted((json.loads(line) for line in log.read_text().splitlines()), key=lambda h: h["start"])
    assert len(holds) == 8 * rounds
    for before, after in zip(holds, holds[1:]):
        assert before["end"] <= after["start"], (before, after)  # no overlapping holds
        assert before["token"] < after["token"], (before, after)  # fencing tokens increase with each grant
    assert [h["saw"] for h in holds] == list(range(8 * rounds))
