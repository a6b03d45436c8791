"""Sessions, ephemeral nodes and watches on a real 3-node cluster."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time

import pytest

from skylock.client import Event
from skylock.errors import NoChildrenForEphemerals, SessionExpired
from tests.integration.cluster import LocalCluster, holds_for, wait_until


class Recorder:
    """Collects watch events; ``next`` waits for one with a deadline."""

    def __init__(self) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.seen: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.seen.append(event)
        self.events.put(event)

    def next(self, timeout: float = 10.0) -> Event:
        return self.events.get(timeout=timeout)


OWNER_SCRIPT = """
import sys, threading
from skylock.client import Client
client = Client(sys.argv[1].split(","))
client.start_session("svc", ttl=float(sys.argv[2]))
client.create("/svc", b"up", ephemeral=True)
print("ready", flush=True)
threading.Event().wait()
"""


def test_ephemeral_vanishes_between_ttl_and_ttl_plus_2s_after_its_client_dies(cluster: LocalCluster) -> None:
    ttl = 1.5
    owner = subprocess.Popen([sys.executable, "-c", OWNER_SCRIPT, ",".join(cluster.servers), str(ttl)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "ready"
        watcher = cluster.client(cluster.address(2))
        seen = Recorder()
        assert watcher.exists("/svc", watch=seen) is not None
        holds_for(lambda: watcher.exists("/svc") is not None, duration=2 * ttl, what="a heartbeating session")
    finally:
        owner.kill()
        owner.wait()
    killed_at = time.monotonic()
    event = seen.next(timeout=ttl + 5)
    gone_after = time.monotonic() - killed_at
    assert event.type == "deleted" and event.path == "/svc"
    # the last heartbeat was at most TTL/3 before the kill; the TTL is a lower bound
    assert ttl * 2 / 3 - 0.1 <= gone_after <= ttl + 2.0, gone_after
    assert watcher.exists("/svc") is None


def test_ephemerals_cannot_have_children_and_need_a_session(cluster: LocalCluster) -> None:
    client = cluster.client()
    client.start_session("test", ttl=5)
    client.create("/eph", ephemeral=True)
    with pytest.raises(NoChildrenForEphemerals):
        client.create("/eph/child")
    with pytest.raises(SessionExpired):
        client.call("create", path="/nosession", ephemeral=True, session_id="no-such-session")


def test_closing_a_session_removes_its_ephemerals_at_once(cluster: LocalCluster) -> None:
    client = cluster.client()
    client.start_session("closer", ttl=30)
    client.create("/bye", ephemeral=True)
    other = cluster.client()
    assert other.exists("/bye") is not None
    client.close()
    assert other.exists("/bye") is None


def test_session_survives_a_leader_change(cluster: LocalCluster) -> None:
    leader = cluster.leader()
    follower = next(n for n in (1, 2, 3) if n != leader)
    client = cluster.client(cluster.address(follower))
    client.start_session("survivor", ttl=3)
    client.create("/still-here", ephemeral=True)
    cluster.kill(leader)
    new_leader = cluster.leader(among=[n for n in (1, 2, 3) if n != leader])
    assert new_leader != leader
    probe = cluster.client(cluster.address(follower))
    # longer than the TTL: the heartbeats must have kept it across the election
    holds_for(lambda: probe.exists("/still-here") is not None, duration=5, what="the session's ephemeral")
    assert client.state.value == "connected"


def test_session_moves_to_another_node_when_its_node_dies(cluster: LocalCluster) -> None:
    client = cluster.client(cluster.address(1), cluster.address(2), cluster.address(3))
    client.start_session("mover", ttl=3)
    client.create("/mover", ephemeral=True)
    first = client.server
    first_id = cluster.servers.index(first) + 1
    cluster.kill(first_id)
    wait_until(lambda: client.server not in (None, first) and client.state.value == "connected", timeout=10)
    probe = cluster.client(*[a for a in cluster.servers if a != first])
    holds_for(lambda: probe.exists("/mover") is not None, duration=4, what="the moved session's ephemeral")


def test_data_watch_fires_exactly_once_with_the_zxid_of_the_change(cluster: LocalCluster) -> None:
    client = cluster.client()
    client.create("/w", "0")
    seen = Recorder()
    client.get("/w", watch=seen)
    stat1 = cluster.client(cluster.address(3)).set("/w", "1")
    cluster.client(cluster.address(2)).set("/w", "2")
    event = seen.next()
    assert (event.type, event.path, event.zxid) == ("data_changed", "/w", stat1["mzxid"])
    client.create("/w-sync")  # a later write: any duplicate would have arrived before its reply
    client.get("/w-sync")
    assert len(seen.seen) == 1


def test_children_watch_names_the_child(cluster: LocalCluster) -> None:
    client = cluster.client()
    client.create("/parent")
    seen = Recorder()
    assert client.children("/parent", watch=seen) == []
    client.create("/parent/kid")
    event = seen.next()
    assert (event.type, event.path, event.child) == ("children_changed", "/parent", "kid")


def test_recursive_watch_sees_every_change_below_in_order(cluster: LocalCluster) -> None:
    client = cluster.client()
    client.create("/tree")
    seen = Recorder()
    client.watch("/tree", seen, kind="recursive")
    writer = cluster.client(cluster.address(2))
    writer.create("/tree/a", "1")
    writer.set("/tree/a", "2")
    writer.create("/tree/a/b")
    writer.delete("/tree/a/b")
    writer.create("/elsewhere")
    got = [seen.next() for _ in range(4)]
    assert [(e.type, e.path) for e in got] == [
        ("created", "/tree/a"), ("data_changed", "/tree/a"), ("created", "/tree/a/b"), ("deleted", "/tree/a/b"),
    ]
    assert [e.zxid for e in got] == sorted(e.zxid for e in got)


def test_recursive_watch_resumes_from_its_zxid_after_its_node_dies(cluster: LocalCluster) -> None:
    client = cluster.client(cluster.address(1), cluster.address(2), cluster.address(3))
    client.create("/resume")
    seen = Recorder()
    client.watch("/resume", seen, kind="recursive")
    watched_on = cluster.servers.index(client.server) + 1
    writer = cluster.client(*[a for a in cluster.servers if a != client.server])
    writer.create("/resume/1")
    assert seen.next().path == "/resume/1"
    cluster.kill(watched_on)
    cluster.leader(among=[n for n in (1, 2, 3) if n != watched_on])
    writer.create("/resume/2")  # happens while the watcher has no server
    writer.create("/resume/3")
    client.get("/resume")  # the client notices, fails over, and re-registers from its last zxid
    paths = [seen.next().path for _ in range(2)]
    assert paths == ["/resume/2", "/resume/3"]
