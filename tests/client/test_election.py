"""Leader election against a real cluster, including a candidate killed with SIGKILL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from skylock.client import Client, ConnectionLost, Election
from tests.integration.cluster import LocalCluster, wait_until

CANDIDATE = """
import sys, threading
import pytest

from skylock.client import Client, ConnectionLost, Election
client = Client(sys.argv[1], attempt_timeout=1.0)
client.start_session("candidate", ttl=float(sys.argv[3]))
Election(client, sys.argv[2], "doomed").campaign()
print("leading", flush=True)
threading.Event().wait()
"""


def session_client(cluster: LocalCluster, name: str, ttl: float = 10.0) -> Client:
    client = cluster.client()
    client.start_session(name, ttl=ttl)
    return client


def test_one_leader_observed_by_all_and_resign_hands_over(cluster: LocalCluster) -> None:
    elections = [Election(session_client(cluster, f"e{i}"), "jobs", f"node-{i}") for i in range(3)]
    observer = Election(cluster.client(), "jobs", "observer")
    assert observer.leader() is None
    assert elections[0].campaign(timeout=5)
    threads = [threading.Thread(target=e.campaign) for e in elections[1:]]
    for i, t in enumerate(threads):
        t.start()
        wait_until(lambda i=i: len(elections[0].client.lock_info("jobs")["waiters"]) == i + 1,
                   what=f"candidate {i + 1} queued")
    assert [e.is_leader for e in elections] == [True, False, False]
    assert observer.leader() == "node-0"
    first_term = elections[0].token
    elections[0].resign()
    threads[0].join(timeout=10)
    assert [e.is_leader for e in elections] == [False, True, False]
    assert observer.leader() == "node-1"
    assert elections[1].token is not None and first_term is not None and elections[1].token > first_term
    elections[1].resign()
    threads[1].join(timeout=10)
    assert observer.leader() == "node-2"
    elections[2].resign()
    assert observer.leader() is None


def test_on_leader_change_reports_each_new_leader(cluster: LocalCluster) -> None:
    seen: list[str | None] = []
    observer = Election(cluster.client(), "watched", "observer")
    observer.on_leader_change(seen.append)
    assert seen == [None]  # the current state first, as kazoo's watchers do
    a = Election(session_client(cluster, "wa"), "watched", "a")
    b = Election(session_client(cluster, "wb"), "watched", "b")
    assert a.campaign(timeout=5)
    wait_until(lambda: seen == [None, "a"], what="a reported as leader")
    waiting = threading.Thread(target=b.campaign)
    waiting.start()
    wait_until(lambda: a.client.lock_info("watched")["waiters"], what="b queued")
    a.resign()
    waiting.join(timeout=10)
    wait_until(lambda: seen == [None, "a", "b"], what="b reported as leader")
    b.resign()
    wait_until(lambda: seen == [None, "a", "b", None], what="no leader reported")


def test_on_leader_change_reports_the_current_leader_on_registration(cluster: LocalCluster) -> None:
    leader = Election(session_client(cluster, "ra"), "registered", "a")
    assert leader.campaign(timeout=5)
    observer = Election(cluster.client(), "registered", "observer")
    first: list[str | None] = []
    second: list[str | None] = []
    observer.on_leader_change(first.append)
    assert first == ["a"]  # on the registering thread, before on_leader_change returns
    observer.on_leader_change(second.append)  # a later callback hears the current leader too
    assert second == ["a"]
    leader.resign()
    wait_until(lambda: first == ["a", None] and second == ["a", None], what="the resignation reported once")
    observer.close()


def test_killed_leader_is_replaced_within_ttl(cluster: LocalCluster) -> None:
    ttl = 2.0
    proc = subprocess.Popen(
        [sys.executable, "-c", CANDIDATE, ",".join(cluster.servers), "crashy", str(ttl)],
        stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        observer = Election(cluster.client(), "crashy", "observer")
        wait_until(lambda: observer.leader() == "doomed", what="the subprocess to lead")
        successor = Election(session_client(cluster, "successor"), "crashy", "successor")
        won = threading.Event()
        campaign = threading.Thread(target=lambda: successor.campaign(timeout=30) and won.set())
        campaign.start()
        wait_until(lambda: observer.client.lock_info("crashy")["waiters"], what="successor queued")
        proc.kill()
        killed_at = time.monotonic()
        proc.wait()
        assert won.wait(ttl + 2.0), "no new leader within TTL + 2 s"
        assert time.monotonic() - killed_at <= ttl + 2.0
        assert observer.leader() == "successor"
        campaign.join(timeout=5)
        successor.resign()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_a_closed_client_fails_fast_for_late_recipe_threads(cluster: LocalCluster) -> None:
    """A leader-change check can still be running when its client closes: it must get a
    quick ConnectionLost, not spin until the request timeout or hit a dead ZeroMQ context."""
    client = Client(cluster.servers)
    client.close()
    started = time.monotonic()
    with pytest.raises(ConnectionLost):
        client.lock_info("anything")
    assert time.monotonic() - started < 1.0
