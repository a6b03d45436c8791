"""ClientServer over real sockets: request/reply routing, pushed frames, garbage, stop."""

from __future__ import annotations

import threading

import pytest
import zmq

from skylock.net import codec
from skylock.net.client_server import ClientServer
from tests.net.netutil import wait_until

pytestmark = pytest.mark.timeout(60)


class EchoServer:
    """A ClientServer that answers every frame with b"re:" + frame."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, bytes]] = []
        self.server = ClientServer("127.0.0.1:0", self.on_request)

    def on_request(self, conn_id: bytes, frame: bytes) -> None:
        self.requests.append((conn_id, frame))
        if frame == b"boom":
            raise RuntimeError("handler bug")
        self.server.send(conn_id, b"re:" + frame)


@pytest.fixture
def echo():
    srv = EchoServer()
    srv.server.start()
    yield srv
    srv.server.stop()


@pytest.fixture
def ctx():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def client(ctx: zmq.Context, address: str) -> zmq.Socket:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 10000)
    sock.connect(f"tcp://{address}")
    return sock


def test_binds_a_free_port_and_reports_it(echo):
    host, port = echo.server.address.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0


def test_request_reply(echo, ctx):
    sock = client(ctx, echo.server.address)
    sock.send(b"hello")
    assert sock.recv() == b"re:hello"


def test_replies_go_to_the_right_client(echo, ctx):
    socks = [client(ctx, echo.server.address) for _ in range(5)]
    for n, sock in enumerate(socks):
        for i in range(50):
            sock.send(b"%d-%d" % (n, i))
    for n, sock in enumerate(socks):
        assert [sock.recv() for _ in range(50)] == [b"re:%d-%d" % (n, i) for i in range(50)]


def test_codec_frames_round_trip(ctx):
    def on_request(conn_id: bytes, frame: bytes) -> None:
        req = codec.parse_request(frame, max_size=1 << 20)
        server.send(conn_id, codec.encode_reply(req.id, {"op": req.op}))
        server.send(conn_id, codec.encode_event(3, {"type": "created", "path": "/a", "zxid": 4}))

    server = ClientServer("127.0.0.1:0", on_request)
    server.start()
    try:
        sock = client(ctx, server.address)
        sock.send(codec.encode_request(11, "ping", {}))
        assert codec.parse_server_frame(sock.recv()) == codec.Reply(11, {"op": "ping"}, None)
        assert codec.parse_server_frame(sock.recv()).watch_id == 3
    finally:
        server.stop()


def test_sends_from_many_threads(echo, ctx):
    sock = client(ctx, echo.server.address)
    sock.send(b"hi")
    assert sock.recv() == b"re:hi"
    conn_id = echo.requests[0][0]

    def push(n: int) -> None:
        for i in range(200):
            echo.server.send(conn_id, b"ev%d-%03d" % (n, i))

    threads = [threading.Thread(target=push, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    got = [sock.recv() for _ in range(800)]
    for n in range(4):
        assert [g for g in got if g.startswith(b"ev%d-" % n)] == [b"ev%d-%03d" % (n, i) for i in range(200)]


def test_frames_to_unknown_connections_are_dropped(echo, ctx):
    for _ in range(100):
        echo.server.send(b"\x00nobody", b"lost")
    wait_until(lambda: echo.server.stats()["sent"] + echo.server.stats()["dropped_unreachable"] >= 100)
    sock = client(ctx, echo.server.address)
    sock.send(b"still-here")
    assert sock.recv() == b"re:still-here"


def test_malformed_multipart_and_handler_errors_do_not_kill_the_server(echo, ctx):
    sock = client(ctx, echo.server.address)
    sock.send_multipart([b"one", b"two", b"three"])
    sock.send_multipart([b"", b""])
    sock.send(b"boom")
    sock.send(b"")
    sock.send(b"after")
    assert sock.recv() == b"re:"
    assert sock.recv() == b"re:after"
    assert echo.server.stats()["dropped_malformed"] == 2


def test_client_that_vanishes_mid_conversation(echo, ctx):
    sock = client(ctx, echo.server.address)
    sock.send(b"bye")
    wait_until(lambda: len(echo.requests) == 1)
    sock.close()
    conn_id = echo.requests[0][0]
    for _ in range(50):
        echo.server.send(conn_id, b"late")
    other = client(ctx, echo.server.address)
    other.send(b"ok")
    assert other.recv() == b"re:ok"


def test_stop_is_prompt_and_idempotent(ctx):
    srv = EchoServer()
    srv.server.start()
    sock = client(ctx, srv.server.address)
    for i in range(1000):
        sock.send(b"%d" % i)
    srv.server.stop()
    srv.server.stop()
    srv.server.send(b"x", b"after stop")  # ignored


def test_bind_conflict_raises_from_start(echo):
    with pytest.raises(zmq.ZMQError):
        ClientServer(echo.server.address, lambda c, f: None).start()


def slow_reader(ctx: zmq.Context, address: str, routing_id: bytes) -> zmq.Socket:
    """A client whose own buffers hold almost nothing, so what it does not read stays on the server."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 1)
    sock.setsockopt(zmq.RCVBUF, 4096)
    sock.setsockopt(zmq.RCVTIMEO, 10000)
    sock.setsockopt(zmq.ROUTING_ID, routing_id)
    sock.connect(f"tcp://{address}")
    return sock


def test_a_slow_reader_within_the_byte_cap_gets_every_frame_in_order(ctx):
    """Frames to a client whose queue is full are held back and retried, never dropped
    while they fit under the byte cap; nothing is reported."""
    overflowed: list[bytes] = []
    server = ClientServer("127.0.0.1:0", lambda conn, frame: None, on_overflow=overflowed.append, sndhwm=10,
                          max_backlog_bytes=16 << 20)
    server.start()
    try:
        sock = slow_reader(ctx, server.address, b"slow-reader")
        sock.send(b"hello")  # the server learns the connection
        wait_until(lambda: server.stats()["received"] == 1, what="the hello")
        frames = [b"%06d" % i + b"." * 1000 for i in range(3000)]  # ~3 MB: more than TCP buffers hold
        for frame in frames:
            server.send(b"slow-reader", frame)
        received = [sock.recv() for _ in frames]
        assert received == frames
        stats = server.stats()
        assert overflowed == [] and stats["overflows"] == 0 and stats["dropped_backlog"] == 0
    finally:
        server.stop()


def test_a_reader_past_the_byte_cap_has_its_held_frames_dropped_and_is_reported(ctx):
    """Past ``max_backlog_bytes`` what is held for that connection is dropped (counted) and
    the owner is told, so it ends the connection's watches; other clients are served."""
    overflowed: list[bytes] = []
    server = ClientServer("127.0.0.1:0", lambda conn, frame: server.send(conn, b"re:" + frame),
                          on_overflow=overflowed.append, sndhwm=4, max_backlog_bytes=256 << 10)
    server.start()
    try:
        sock = slow_reader(ctx, server.address, b"never-reads")
        sock.send(b"hello")
        assert sock.recv() == b"re:hello"
        big = [b"%06d" % i + b"." * (64 << 10) for i in range(400)]  # 26 MB to a client that reads nothing
        for frame in big:
            server.send(b"never-reads", frame)
        def dropped() -> int:
            stats = server.stats()
            return stats["dropped_backlog"] + stats["dropped_queue_full"]

        wait_until(lambda: dropped() > 0, what="held frames dropped")
        assert set(overflowed) == {b"never-reads"}
        other = client(ctx, server.address)
        other.send(b"still served")
        assert other.recv() == b"re:still served"
        received = []
        while sock.poll(2000):
            received.append(sock.recv())
        assert len(received) + dropped() == len(big)
        assert len(received) < len(big) and received == sorted(received)  # in order, with a gap
        assert server.stats()["overflows"] == len(overflowed)
    finally:
        server.stop()


def test_a_frame_over_max_frame_drops_the_connection_unread(ctx):
    got: list[bytes] = []
    server = ClientServer("127.0.0.1:0", lambda conn, frame: (got.append(frame), server.send(conn, b"re:" + frame)),
                          max_frame=1 << 20)
    server.start()
    try:
        sock = client(ctx, server.address)
        events = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        sock.send(bytes(8 << 20))
        assert events.poll(10000), "the server did not drop the connection"
        sock.send(b"small")  # the DEALER reconnects by itself
        assert sock.recv() == b"re:small"
        assert got == [b"small"]
    finally:
        server.stop()


def test_connections_heard_from_are_reported_in_batches(ctx):
    reports: list[frozenset[bytes]] = []
    server = ClientServer("127.0.0.1:0", lambda conn, frame: None, on_seen=reports.append)
    server.start()
    try:
        socks = [slow_reader(ctx, server.address, name) for name in (b"a", b"b")]
        for sock in socks:
            sock.send(b"hi")
        wait_until(lambda: frozenset().union(*reports) == {b"a", b"b"}, what="both connections reported")
    finally:
        server.stop()


def test_connections_beyond_the_limit_wait_for_a_silent_one_to_go() -> None:
    from skylock.net.client_server import _Connections

    served = _Connections(limit=2, idle=10.0)
    assert served.admit(b"a", 0.0) and served.admit(b"b", 1.0)
    assert not served.admit(b"c", 5.0)  # both heard from within 10 s
    assert served.admit(b"a", 5.0)  # one already served stays served
    assert served.admit(b"c", 11.5)  # b was last heard at 1.0: gone by 11.0
    assert not served.admit(b"d", 11.6)
    assert _Connections(limit=0, idle=1.0).admit(b"x", 0.0)  # 0: no limit
