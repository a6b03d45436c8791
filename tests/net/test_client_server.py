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


def test_a_slow_reader_gets_every_frame_in_order_and_is_reported_once(ctx):
    """Frames to a client whose queue is full are held back and retried, never dropped
    silently; the owner hears about it once, so it can end that client's watches."""
    overflowed: list[bytes] = []
    server = ClientServer("127.0.0.1:0", lambda conn, frame: None, on_overflow=overflowed.append, sndhwm=10)
    server.start()
    try:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 1)
        sock.setsockopt(zmq.RCVBUF, 4096)
        sock.setsockopt(zmq.RCVTIMEO, 10000)
        sock.setsockopt(zmq.ROUTING_ID, b"slow-reader")
        sock.connect(f"tcp://{server.address}")
        sock.send(b"hello")  # the server learns the connection
        wait_until(lambda: server.stats()["received"] == 1, what="the hello")
        frames = [b"%06d" % i + b"." * 1000 for i in range(3000)]  # ~3 MB: more than TCP buffers hold
        for frame in frames:
            server.send(b"slow-reader", frame)
        wait_until(lambda: overflowed == [b"slow-reader"], what="the overflow report")
        received = [sock.recv() for _ in frames]
        assert received == frames
        assert overflowed == [b"slow-reader"]
        stats = server.stats()
        assert stats["overflows"] == 1 and stats["dropped_backlog"] == 0
    finally:
        server.stop()
