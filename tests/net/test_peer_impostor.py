"""Who a peer frame is from, over real sockets on 127.0.0.1.

Secure mode: the ZAP handler names the member whose CURVE key completed the handshake
(the frame's ``User-Id``), and node 1 drops a frame whose routing id names another
member, so holding node 3's key does not let a process speak as node 2. Both modes:
a connection that claims a member's routing id does not take that member's real
connection over (each DEALER's routing id carries a random tag).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import zmq

from skylock.net.curve import KeyPair, NodeCurve, connect_curve, start_authenticator
from skylock.net.peer_transport import PeerTransport
from tests.net.netutil import free_address, wait_until
from tests.net.test_peer_transport import Inbox, connect

pytestmark = pytest.mark.timeout(60)


@dataclass
class Nodes:
    """Node 1 (the receiver) and node 2 (a real peer) of members {1, 2, 3}; node 3 never runs."""

    t1: PeerTransport
    t2: PeerTransport
    in1: Inbox
    in2: Inbox
    keys: dict[int, KeyPair]
    ctx: zmq.Context  # the attacker's


def _nodes(secure: bool) -> Iterator[Nodes]:
    keys = {n: KeyPair.generate() for n in (1, 2, 3)}
    members = {n: k.public for n, k in keys.items()}
    addrs = {n: free_address() for n in (1, 2, 3)}
    contexts, auths, transports = [], [], []
    in1, in2 = Inbox(), Inbox()
    for node_id, inbox in ((1, in1), (2, in2)):
        ctx = zmq.Context()
        contexts.append(ctx)
        curve = None
        if secure:
            auths.append(start_authenticator(ctx, members))
            curve = NodeCurve(keys[node_id], members)
        peers = {n: a for n, a in addrs.items() if n != node_id}
        transports.append(PeerTransport(node_id, addrs[node_id], peers, inbox, context=ctx, curve=curve))
    attacker = zmq.Context()
    try:
        for t in transports:
            t.start()
        t1, t2 = transports
        connect(t1, 2, in2)
        connect(t2, 1, in1)
        yield Nodes(t1, t2, in1, in2, keys, attacker)
    finally:
        attacker.destroy(linger=0)
        for t in transports:
            t.stop()
        for auth in auths:
            auth.stop()
        for ctx in contexts:
            ctx.term()


@pytest.fixture
def secure() -> Iterator[Nodes]:
    yield from _nodes(secure=True)


@pytest.fixture
def open_mode() -> Iterator[Nodes]:
    yield from _nodes(secure=False)


def _dealer(nodes: Nodes, routing_id: bytes, keys: KeyPair | None) -> zmq.Socket:
    sock = nodes.ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.ROUTING_ID, routing_id)
    if keys is not None:
        connect_curve(sock, keys, nodes.keys[1].public)
    sock.connect(f"tcp://{nodes.t1.address}")
    return sock


def _still_linked(nodes: Nodes, tag: bytes) -> None:
    """Node 2's real connection to node 1 still carries its frames, as node 2's."""
    wait_until(lambda: (2, tag) in nodes.in1.items, poke=lambda: nodes.t2.send(1, tag),
               what="node 2's frame at node 1")


def test_a_members_key_cannot_speak_as_another_member(secure: Nodes) -> None:
    """Node 3's key with routing id b"2" (or b"2/<tag>") completes the handshake, but
    every frame is dropped as an impostor's and counted; node 2 itself is unaffected."""
    socks = [_dealer(secure, rid, secure.keys[3]) for rid in (b"2", b"2/0123456789abcdef")]
    wait_until(lambda: secure.t1.stats()["dropped_impostor"] >= 6,
               poke=lambda: [s.send(b"forged", zmq.NOBLOCK) for s in socks], what="impostor frames counted")
    _still_linked(secure, b"real")
    assert [p for _, p in secure.in1.items if p == b"forged"] == []
    assert secure.t1.stats()["dropped_stranger"] == 0  # counted as impostors, not as strangers


def test_a_members_key_speaks_as_its_own_member(secure: Nodes) -> None:
    """The check is the key's owner against the routing id: node 3's key as b"3" is node 3."""
    sock = _dealer(secure, b"3", secure.keys[3])
    wait_until(lambda: (3, b"from-3") in secure.in1.items, poke=lambda: sock.send(b"from-3", zmq.NOBLOCK),
               what="node 3's frame delivered")
    assert secure.t1.stats()["dropped_impostor"] == 0


@pytest.mark.parametrize("mode", ["secure", "open_mode"])
def test_claiming_a_members_routing_id_does_not_take_its_connection_over(mode: str, request) -> None:
    """With ROUTER_HANDOVER a new connection with node 2's exact routing id would silently
    replace node 2's own; the random tag in node 2's id means a mere b"2" never matches."""
    nodes: Nodes = request.getfixturevalue(mode)
    keys = nodes.keys[3] if mode == "secure" else None
    impostor = _dealer(nodes, b"2", keys)
    counter = "dropped_impostor" if mode == "secure" else "received"
    before = nodes.t1.stats()[counter]
    wait_until(lambda: nodes.t1.stats()[counter] > before, poke=lambda: impostor.send(b"claim", zmq.NOBLOCK),
               what="the impostor's connection up")
    for i in range(3):  # with the takeover, node 2's frames would now vanish on node 1's side
        _still_linked(nodes, b"after-%d" % i)


def test_routing_ids_name_a_member_exactly() -> None:
    """b"2" and b"2/" plus 16 lowercase hex digits name node 2; nothing else does."""
    t = PeerTransport(1, "127.0.0.1:0", {2: "127.0.0.1:1"}, lambda *_: None)
    assert t._member_of(b"2") == 2
    assert t._member_of(b"2/0123456789abcdef") == 2
    for stranger in (b"02", b" 2", b"2/", b"2/0123456789ABCDEF", b"2/0123456789abcde", b"2/0123456789abcdef0",
                     b"2/0123456789abcdef\n", b"3/0123456789abcdef", b"1"):
        assert t._member_of(stranger) is None, stranger


def test_the_zap_handler_refuses_two_members_with_one_key() -> None:
    key = KeyPair.generate().public
    ctx = zmq.Context()
    try:
        with pytest.raises(ValueError, match="share a CURVE public key"):
            start_authenticator(ctx, {1: key, 2: key})
    finally:
        ctx.term()
