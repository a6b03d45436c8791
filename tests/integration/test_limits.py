"""Every resource a client can make a node hold has a limit and a clear error
(DESIGN section 7a): reply bytes held for a slow reader, oversized frames, watches
(per connection, in total, and those of connections that went silent), open
sessions and the size of a session's client id. Driven like the reproductions:
raw pyzmq + msgpack clients against real node processes; memory is read from
/proc only as a generous sanity bound."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from skylock.client import connection
from skylock.errors import LimitExceeded, TooLarge
from tests.integration.cluster import LocalCluster, holds_for, running_cluster, wait_until

pytestmark = pytest.mark.timeout(180)

MiB = 1 << 20
IDLE = 2.0  # server.watch_idle_timeout in these clusters, seconds
LIMITS: dict[str, dict[str, Any]] = {
    "server": {
        "max_backlog_bytes": "2MiB",
        "max_watches_per_connection": 20,
        "max_watches": 50,
        "watch_idle_timeout": f"{IDLE:g}s",
        "max_sessions": 4,
        "max_client_id_size": 64,
    },
}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path, sections=LIMITS) as c:
        yield c


def peak_rss(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


class Raw:
    """A client in any language: one DEALER, msgpack maps, replies matched by id."""

    def __init__(self, address: str, *, slow: bool = False) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.ROUTING_ID, uuid.uuid4().bytes)
        self.sock.setsockopt(zmq.LINGER, 0)
        if slow:  # its own buffers hold almost nothing: what it does not read stays on the node
            self.sock.setsockopt(zmq.RCVHWM, 1)
            self.sock.setsockopt(zmq.RCVBUF, 4096)
        self.sock.connect(f"tcp://{address}")
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, op: str, **args: Any) -> int:
        self.next_id += 1
        self.sock.send(msgpack.packb({"v": 1, "id": self.next_id, "op": op, "args": args}))
        return self.next_id

    def recv(self, timeout: float = 10.0) -> dict[str, Any] | None:
        if not self.sock.poll(int(timeout * 1000)):
            return None
        return msgpack.unpackb(self.sock.recv(), raw=False)

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        """The reply to this request (events that come first are kept in ``events``)."""
        request_id = self.send(op, **args)
        while (msg := self.recv()) is not None:
            if "watch" in msg:
                self.events.append(msg)
            elif msg.get("id") == request_id:
                return msg
        raise AssertionError(f"no reply to {op}")

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()


def code(reply: dict[str, Any]) -> str:
    return reply["err"]["code"] if "err" in reply else "ok"


# ---- finding 6: a client that never reads ----------------------------------------------------


def test_a_client_that_never_reads_costs_the_node_a_bounded_amount(cluster: LocalCluster) -> None:
    """3,000 gets of a 1 MiB node by a client that never read grew a node by 3.3 GB: now
    what is held for it is capped (server.max_backlog_bytes plus a small ZeroMQ queue);
    beyond, its replies are dropped and its watches end with resync "overflow"."""
    cluster.client().create("/big", b"x" * MiB)
    cluster.client().create("/small", b"s")
    pid = cluster.procs[1].pid
    before = peak_rss(pid)
    slow = Raw(cluster.address(1), slow=True)
    other = Raw(cluster.address(1))
    try:
        assert code(slow.call("watch.add", path="/", kind="recursive")) == "ok"
        gets = [slow.send("get", path="/big", consistency="local") for _ in range(600)]
        wait_until(lambda: "reads too slowly" in (cluster.root / "node1.log").read_text(),
                   timeout=60, what="the node to drop what it held for the slow client")
        assert code(other.call("get", path="/small")) == "ok"  # others are served meanwhile

        # now read everything: a local get sent after the flood is answered after it
        replies: set[int] = set()
        marker = slow.send("get", path="/small", consistency="local")

        def read_up_to_marker() -> bool:
            nonlocal marker
            while (msg := slow.recv(timeout=1.0)) is not None:
                if "watch" in msg:
                    slow.events.append(msg)
                elif msg["id"] == marker:
                    return True
                else:
                    replies.add(msg["id"])
            marker = slow.send("get", path="/small", consistency="local")  # that one was dropped too
            return False

        wait_until(read_up_to_marker, timeout=60, interval=0, what="the reply to a get sent after the flood")
        grown = peak_rss(pid) - before
        assert grown < 200 * MiB, f"the node's peak RSS grew by {grown / MiB:.0f} MiB"
        assert 0 < len(replies & set(gets)) < len(gets)  # replies past the cap were dropped
        resyncs = [m["event"] for m in slow.events if m["event"]["type"] == "resync"]
        assert resyncs and resyncs[0]["reason"] == "overflow"
    finally:
        slow.close()
        other.close()


# ---- finding 7: a frame far over the request limit ----------------------------------------------


def test_a_huge_frame_is_refused_before_it_is_read_whole(cluster: LocalCluster) -> None:
    """A 200 MB frame was read whole (peak RSS 480 MB) before TooLarge: now ZeroMQ drops the
    connection from the frame's length header; a frame just over the limit still gets TooLarge."""
    pid = cluster.procs[1].pid
    raw = Raw(cluster.address(1))
    try:
        assert code(raw.call("ping")) == "ok"
        before = peak_rss(pid)
        gone = raw.sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        raw.sock.send(bytes(200 * MiB), copy=False)  # zero pages: cheap for the test process
        dropped = gone.poll(30_000)
        raw.sock.disable_monitor()
        gone.close(linger=0)
        assert dropped, "the node did not drop the connection"
        assert raw.recv(timeout=0.5) is None  # no reply: the frame was never read
        grown = peak_rss(pid) - before
        assert grown < 64 * MiB, f"the node's peak RSS grew by {grown / MiB:.0f} MiB"
        assert code(raw.call("ping")) == "ok"  # the DEALER reconnects; the node serves it
        over = raw.call("create", path="/over", data=b"x" * (2 * MiB + 1))
        assert code(over) == "TooLarge"
    finally:
        raw.close()


# ---- finding 8 and the watch limits -----------------------------------------------------------------


def test_watch_limits_per_connection_and_in_total(cluster: LocalCluster) -> None:
    a, b, c = (Raw(cluster.address(1)) for _ in range(3))
    try:
        for i in range(20):
            assert code(a.call("watch.add", path="/", kind="recursive")) == "ok", i
        refused = a.call("watch.add", path="/", kind="recursive")
        assert code(refused) == "LimitExceeded"
        assert refused["err"]["limit"] == "server.max_watches_per_connection"
        watched_read = a.call("exists", path="/nothing", watch=True)  # no reply that looks set
        assert code(watched_read) == "LimitExceeded"
        assert code(a.call("exists", path="/nothing")) == "ok"  # the same read without a watch
        for raw, n in ((b, 20), (c, 10)):
            for i in range(n):
                assert code(raw.call("exists", path=f"/n{i}", watch=True)) == "ok", i
        refused = c.call("watch.add", path="/", kind="recursive")
        assert code(refused) == "LimitExceeded" and refused["err"]["limit"] == "server.max_watches"
        assert code(a.call("watch.remove", watch_id=1)) == "ok"  # the node's first watch id: a's
        assert code(c.call("watch.add", path="/", kind="recursive")) == "ok"
    finally:
        for raw in (a, b, c):
            raw.close()


def test_watches_of_connections_that_went_silent_are_freed(cluster: LocalCluster) -> None:
    """Connections that set watches and went away kept them until restart (every later
    event scanned them all): now a connection silent past server.watch_idle_timeout loses
    its watches, and one that keeps talking keeps its own."""
    gone = [Raw(cluster.address(1)) for _ in range(2)]
    alive = Raw(cluster.address(1))
    try:
        for raw in gone:
            for _ in range(20):
                assert code(raw.call("watch.add", path="/", kind="recursive")) == "ok"
        for _ in range(10):
            assert code(alive.call("watch.add", path="/", kind="recursive")) == "ok"
        assert code(alive.call("watch.add", path="/", kind="recursive")) == "LimitExceeded"  # 50 in all
        for raw in gone:
            raw.close()
        wait_until(lambda: code(alive.call("watch.add", path="/", kind="recursive")) == "ok",
                   timeout=10 * IDLE, what="the silent connections' watches to be freed")
        for _ in range(9):  # its own ten were kept: ten more reach the per-connection limit
            assert code(alive.call("watch.add", path="/", kind="recursive")) == "ok"
        refused = alive.call("watch.add", path="/", kind="recursive")
        assert refused["err"]["limit"] == "server.max_watches_per_connection"
    finally:
        alive.close()


def test_an_sdk_client_that_only_watches_keeps_its_watches(cluster: LocalCluster,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's watch socket pings while otherwise silent, so the idle sweep spares it
    (the default pairing, 5 s pings against 30 s, is checked in tests/test_config_limits.py)."""
    monkeypatch.setattr(connection, "KEEPALIVE_INTERVAL", IDLE / 4)
    watcher = cluster.client(cluster.address(1))
    events: list[Any] = []
    watcher.watch("/quiet", events.append)
    holds_for(lambda: not events, duration=3 * IDLE, what="no resync for a watch-only client")
    cluster.client().create("/quiet", b"1")
    wait_until(lambda: [e.type for e in events] == ["created"], what="the watch's event")


# ---- finding 9: sessions -------------------------------------------------------------------------------------


def test_session_count_and_client_id_size_are_limited(cluster: LocalCluster) -> None:
    """100 opens with a 1.9 MB client id grew the WAL by 650 MB: now the id is bounded and
    so is the number of open sessions, both refused before anything reaches the log."""
    one = cluster.client(cluster.address(1))
    with pytest.raises(TooLarge):
        one.call("session.open", client_id="x" * 65, ttl_ms=10_000)
    with pytest.raises(TooLarge):
        one.call("session.open", client_id="é" * 33, ttl_ms=10_000)  # 66 bytes in UTF-8
    opened = [one.call("session.open", client_id="x" * 64, ttl_ms=10_000)["session_id"] for _ in range(4)]
    with pytest.raises(LimitExceeded):
        one.call("session.open", client_id="fifth", ttl_ms=10_000)
    two = cluster.client(cluster.address(2))

    def refused_on_node_2() -> bool:
        try:
            sid = two.call("session.open", client_id="elsewhere", ttl_ms=10_000)["session_id"]
        except LimitExceeded:
            return True
        two.call("session.close", session_id=sid)  # node 2 had not applied all four yet
        return False

    wait_until(refused_on_node_2, what="node 2 to refuse a fifth session too")
    one.call("session.close", session_id=opened[0])
    assert one.call("session.open", client_id="fifth", ttl_ms=10_000)["session_id"]


def test_limit_exceeded_is_http_429() -> None:
    from skylock.http.api import status_of

    assert status_of(LimitExceeded("too many")) == 429
    assert not LimitExceeded.retryable


# ---- connections ----------------------------------------------------------------------------------------


def test_connections_served_at_once_are_limited(tmp_path: Path) -> None:
    """Any number of connections could each hold the node's resources: now a node serves
    at most server.max_connections of those heard from within server.watch_idle_timeout;
    one more is answered LimitExceeded (and reaches nothing), until others go silent."""
    sections = {"server": {"max_connections": 4, "watch_idle_timeout": f"{IDLE:g}s"}}
    with running_cluster(tmp_path, sections=sections) as small:
        address = small.address(2)
        admitted: list[Raw] = []
        refused = None
        try:
            for _ in range(5):  # four at most: the node's own HTTP link may hold one already
                raw = Raw(address)
                reply = raw.call("ping")
                if code(reply) != "ok":
                    refused = raw
                    break
                admitted.append(raw)
            assert refused is not None and len(admitted) <= 4, "a fifth connection was served"
            reply = refused.call("ping")
            assert code(reply) == "LimitExceeded" and reply["err"]["limit"] == "server.max_connections", reply
            assert code(refused.call("create", path="/not-from-a-refused-connection", data=b"")) == "LimitExceeded"
            assert code(admitted[0].call("ping")) == "ok"  # those served keep being served
            for raw in admitted:
                raw.close()
            admitted = []
            wait_until(lambda: code(refused.call("ping")) == "ok", timeout=10 * IDLE,
                       what="room once the other connections went silent")
            # asked on the connection now served: a new client would be one connection more
            assert code(refused.call("get", path="/not-from-a-refused-connection")) == "NoNode"
        finally:
            for raw in admitted + ([refused] if refused else []):
                raw.close()
