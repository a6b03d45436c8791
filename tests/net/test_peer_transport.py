"""PeerTransport over real sockets on 127.0.0.1: order, batching, reconnect, drops, stop."""

from __future__ import annotations

import logging
import threading

import pytest
import zmq

from skylock.errors import BadRequest
from skylock.net.peer_transport import PeerTransport
from tests.net.netutil import free_address, wait_until

pytestmark = pytest.mark.timeout(60)


class Inbox:
    """Collects (from_id, payload) pairs delivered on the I/O thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[int, bytes]] = []

    def __call__(self, from_id: int, payload: bytes) -> None:
        with self.lock:
            self.items.append((from_id, payload))

    def payloads(self, prefix: bytes = b"") -> list[bytes]:
        with self.lock:
            return [p for _, p in self.items if p.startswith(prefix)]


@pytest.fixture
def pair():
    """Two connected transports (node 1 and node 2) and their inboxes."""
    addr1, addr2 = free_address(), free_address()
    in1, in2 = Inbox(), Inbox()
    t1 = PeerTransport(1, addr1, {2: addr2}, in1)
    t2 = PeerTransport(2, addr2, {1: addr1}, in2)
    t1.start()
    t2.start()
    connect(t1, 2, in2)
    connect(t2, 1, in1)
    yield t1, t2, in1, in2
    t1.stop()
    t2.stop()


def connect(src: PeerTransport, to: int, inbox: Inbox) -> None:
    """Probe until the link works: with immediate=1, sends before the connection are dropped."""
    wait_until(lambda: inbox.payloads(b"probe"), poke=lambda: src.send(to, b"probe"), what=f"link to {to}")
    # the link keeps order: once this marker is in, no stray probe is still in flight
    marker = b"synced-%d" % len(inbox.payloads())
    src.send(to, marker)
    wait_until(lambda: marker in inbox.payloads(), what="probes drained")


def test_messages_arrive_in_order_with_the_sender_id(pair):
    t1, t2, in1, in2 = pair
    for i in range(2000):
        t1.send(2, b"m%d" % i)
    wait_until(lambda: len(in2.payloads(b"m")) == 2000, what="2000 messages")
    assert in2.payloads(b"m") == [b"m%d" % i for i in range(2000)]
    assert {f for f, p in in2.items} == {1}


def test_both_directions_at_once(pair):
    t1, t2, in1, in2 = pair
    t1.send_many(2, [b"x%d" % i for i in range(500)])
    t2.send_many(1, [b"y%d" % i for i in range(500)])
    wait_until(lambda: len(in2.payloads(b"x")) == 500 and len(in1.payloads(b"y")) == 500)
    assert in1.payloads(b"y") == [b"y%d" % i for i in range(500)]


def test_concurrent_senders_keep_per_thread_order(pair):
    t1, _, _, in2 = pair

    def blast(tag: bytes) -> None:
        for i in range(300):
            t1.send(2, tag + b"%04d" % i)

    threads = [threading.Thread(target=blast, args=(b"t%d:" % n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wait_until(lambda: len(in2.payloads(b"t")) == 1200)
    for n in range(4):
        assert in2.payloads(b"t%d:" % n) == [b"t%d:%04d" % (n, i) for i in range(300)]


def test_large_payload(pair):
    t1, _, _, in2 = pair
    blob = bytes(range(256)) * 8192  # 2 MiB
    t1.send(2, b"big" + blob)
    wait_until(lambda: in2.payloads(b"big"))
    assert in2.payloads(b"big") == [b"big" + blob]


def test_reconnects_after_the_peer_restarts(pair):
    t1, t2, _, _ = pair
    t2.stop()
    for i in range(10):
        t1.send(2, b"lost%d" % i)  # peer down: dropped, never blocks
    in2b = Inbox()
    t2b = PeerTransport(2, t2.address, {1: t1.address}, in2b)
    t2b.start()
    try:
        connect(t1, 2, in2b)
        t1.send_many(2, [b"after%d" % i for i in range(100)])
        wait_until(lambda: len(in2b.payloads(b"after")) == 100)
        assert in2b.payloads(b"after") == [b"after%d" % i for i in range(100)]
    finally:
        t2b.stop()


def test_messages_to_a_dead_peer_are_dropped_and_counted():
    t1 = PeerTransport(1, free_address(), {2: free_address()}, Inbox())
    t1.start()
    try:
        t1.send_many(2, [b"x"] * 50)
        wait_until(lambda: t1.stats()["dropped_unreachable"] == 50)
        assert t1.stats()["sent"] == 0
    finally:
        t1.stop()


def test_undeliverable_payloads_are_reported_with_the_peer():
    """Raft hears which messages a dead peer did not get (report_unreachable / a lost snapshot)."""
    reported: list[tuple[int, list[bytes]]] = []
    t1 = PeerTransport(1, free_address(), {2: free_address()}, Inbox(),
                       on_undelivered=lambda to, payloads: reported.append((to, list(payloads))))
    t1.start()
    try:
        t1.send_many(2, [b"a", b"b", b"c"])
        wait_until(lambda: sum(len(p) for _, p in reported) == 3)
        assert {to for to, _ in reported} == {2}
        assert [x for _, p in reported for x in p] == [b"a", b"b", b"c"]
    finally:
        t1.stop()


def test_delivered_payloads_are_not_reported(pair):
    t1, t2, in1, in2 = pair
    reported: list[int] = []
    t1._on_undelivered = lambda to, payloads: reported.append(to)
    t1.send_many(2, [b"ok%d" % i for i in range(20)])
    wait_until(lambda: len(in2.payloads(b"ok")) == 20)
    assert reported == []


def test_full_queue_drops_and_counts():
    """Block node 1's I/O thread inside on_receive, then overfill its queue to node 2."""
    addr1, addr2 = free_address(), free_address()
    release, blocked = threading.Event(), threading.Event()
    in2 = Inbox()

    def slow(from_id: int, payload: bytes) -> None:
        if payload == b"block":
            blocked.set()
            release.wait(10)

    t1 = PeerTransport(1, addr1, {2: addr2}, slow, queue_limit=10)
    t2 = PeerTransport(2, addr2, {1: addr1}, in2)
    t1.start()
    t2.start()
    try:
        connect(t1, 2, in2)
        wait_until(blocked.is_set, poke=lambda: t2.send(1, b"block"), what="node 1 blocked")
        t1.send_many(2, [b"q%d" % i for i in range(25)])
        t1.send(2, b"q-extra")
        assert t1.stats()["dropped_queue_full"] == 16
        release.set()
        wait_until(lambda: len(in2.payloads(b"q")) == 10)
        assert in2.payloads(b"q") == [b"q%d" % i for i in range(10)]
    finally:
        release.set()
        t1.stop()
        t2.stop()


def test_filter_drops_both_directions_until_cleared(pair):
    t1, t2, in1, in2 = pair
    seen: list[tuple[int, int]] = []
    t1.set_filter(lambda frm, to: seen.append((frm, to)) or False)
    t1.send(2, b"f-blocked")
    t2.send(1, b"f-inbound")
    wait_until(lambda: (2, 1) in seen, what="inbound message filtered")
    t1.set_filter(None)
    t1.send(2, b"f-ok")
    t2.send(1, b"f-back")
    wait_until(lambda: in2.payloads(b"f") and in1.payloads(b"f"))
    # per-link order is preserved, so the filtered messages are gone for good
    assert in2.payloads(b"f") == [b"f-ok"] and in1.payloads(b"f") == [b"f-back"]
    assert (1, 2) in seen and t1.stats()["dropped_filtered"] >= 2


def test_unknown_peer_is_ignored(pair):
    t1, _, _, _ = pair
    t1.send(9, b"nobody")  # no exception, no effect
    t1.send(1, b"myself")


def test_garbage_from_strangers_does_not_kill_the_receiver(pair):
    t1, t2, _, in2 = pair
    ctx = zmq.Context()
    stranger = ctx.socket(zmq.DEALER)
    stranger.setsockopt(zmq.LINGER, 0)
    stranger.setsockopt(zmq.ROUTING_ID, b"not-a-number")
    stranger.connect(f"tcp://{t2.address}")
    named = ctx.socket(zmq.DEALER)
    named.setsockopt(zmq.LINGER, 0)
    named.setsockopt(zmq.ROUTING_ID, b"7")
    named.connect(f"tcp://{t2.address}")
    try:
        stranger.send(b"hello")
        named.send_multipart([b"a", b"b", b"c"])
        wait_until(lambda: t2.stats()["dropped_stranger"] >= 1 and t2.stats()["dropped_malformed"] >= 1,
                   what="garbage counted")
        t1.send(2, b"still-alive")
        wait_until(lambda: in2.payloads(b"still-alive"))
    finally:
        stranger.close()
        named.close()
        ctx.term()


def test_stop_is_prompt_idempotent_and_safe_under_load():
    addr1, addr2 = free_address(), free_address()
    inbox = Inbox()
    t1 = PeerTransport(1, addr1, {2: addr2}, Inbox())
    t2 = PeerTransport(2, addr2, {1: addr1}, inbox)
    t1.start()
    t2.start()
    # the link is up before the blast starts: a flooding sender can otherwise starve
    # the I/O thread of the GIL while the connection is still being made
    wait_until(lambda: inbox.payloads(b"probe"), poke=lambda: t1.send(2, b"probe"), what="link up")
    stop_sending = threading.Event()

    def blast() -> None:
        while not stop_sending.is_set():
            t1.send_many(2, [b"z" * 100] * 50)

    sender = threading.Thread(target=blast)
    sender.start()
    try:
        wait_until(lambda: t1.stats()["sent"] > 0)
        t2.stop()
        t1.stop()
        t1.stop()
        t1.send(2, b"after-stop")  # ignored, no exception
    finally:
        stop_sending.set()
        sender.join()


def test_stop_from_inside_the_callback_does_not_deadlock():
    addr1, addr2 = free_address(), free_address()
    holder: dict[str, PeerTransport] = {}
    stopped = threading.Event()

    def on_receive(frm: int, payload: bytes) -> None:
        holder["t2"].stop()
        stopped.set()

    t1 = PeerTransport(1, addr1, {2: addr2}, Inbox())
    holder["t2"] = PeerTransport(2, addr2, {1: addr1}, on_receive)
    t1.start()
    holder["t2"].start()
    try:
        wait_until(stopped.is_set, poke=lambda: t1.send(2, b"stop"))
    finally:
        t1.stop()
        holder["t2"].stop()


def test_bind_conflict_raises_from_start(pair):
    t1, _, _, _ = pair
    other = PeerTransport(3, t1.address, {}, Inbox())
    with pytest.raises(zmq.ZMQError):
        other.start()


def test_shared_context_is_left_open():
    ctx = zmq.Context()
    try:
        t = PeerTransport(1, "127.0.0.1:0", {}, Inbox(), context=ctx)
        t.start()
        assert t.address.startswith("127.0.0.1:") and not t.address.endswith(":0")
        t.stop()
        assert not ctx.closed
    finally:
        ctx.term()


# ---- untrusted senders: membership, validation, frame size ---------------------------


def _dealer(ctx: zmq.Context, address: str, routing_id: bytes) -> zmq.Socket:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.ROUTING_ID, routing_id)
    sock.connect(f"tcp://{address}")
    return sock


def test_only_a_members_exact_routing_id_is_delivered(pair):
    """The sender is the connection: a non-member id, or a member's id spelled another
    way (b"02", b" 1"), never reaches on_receive, whatever the body says."""
    t1, t2, in1, in2 = pair
    ctx = zmq.Context()
    socks = [_dealer(ctx, t2.address, rid) for rid in (b"99", b"01", b" 1", b"2")]
    try:
        wait_until(lambda: t2.stats()["dropped_stranger"] >= 4,
                   poke=lambda: [s.send(b"forged", zmq.NOBLOCK) for s in socks], what="strangers counted")
        t1.send(2, b"member")
        wait_until(lambda: in2.payloads(b"member"))
        assert in2.payloads(b"forged") == []
    finally:
        for s in socks:
            s.close()
        ctx.term()


def test_a_payload_the_receiver_refuses_is_dropped_counted_and_logged_sparingly(caplog):
    """on_receive raising BadRequest is a dropped frame: counted, not 'received', and a flood
    of them logs a line per interval, not a traceback per frame."""
    addr1, addr2 = free_address(), free_address()
    in2 = Inbox()

    def picky(frm: int, payload: bytes) -> None:
        if payload.startswith(b"bad"):
            raise BadRequest("not a peer frame")
        in2(frm, payload)

    t1 = PeerTransport(1, addr1, {2: addr2}, Inbox())
    t2 = PeerTransport(2, addr2, {1: addr1}, picky)
    t1.start()
    t2.start()
    try:
        connect(t1, 2, in2)
        received = t2.stats()["received"]
        with caplog.at_level(logging.WARNING, logger="skylock.net.peer_transport"):
            t1.send_many(2, [b"bad%d" % i for i in range(500)])
            t1.send(2, b"good")
            wait_until(lambda: in2.payloads(b"good"), what="the good frame after the bad ones")
        assert t2.stats()["dropped_invalid"] == 500
        assert t2.stats()["received"] == received + 1
        lines = [r for r in caplog.records if "dropped_invalid" in r.getMessage()]
        assert 1 <= len(lines) <= 3 and all(r.exc_info is None for r in lines)
    finally:
        t1.stop()
        t2.stop()


def test_a_frame_over_max_message_size_is_refused_and_the_link_recovers():
    addr1, addr2 = free_address(), free_address()
    in2 = Inbox()
    t1 = PeerTransport(1, addr1, {2: addr2}, Inbox())
    t2 = PeerTransport(2, addr2, {1: addr1}, in2, max_message_size=4096)
    t1.start()
    t2.start()
    try:
        connect(t1, 2, in2)
        t1.send(2, b"huge" + b"x" * 100_000)
        # zmq drops the connection that sent it; the DEALER reconnects and later frames pass
        wait_until(lambda: in2.payloads(b"after"), poke=lambda: t1.send(2, b"after"), what="link back")
        t1.send(2, b"fits" + b"y" * 4000)
        wait_until(lambda: in2.payloads(b"fits"), what="a frame under the limit")
        assert in2.payloads(b"huge") == []
    finally:
        t1.stop()
        t2.stop()
