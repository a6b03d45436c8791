"""Node-to-node messages over ZeroMQ; payloads are opaque bytes.

Each node binds one ROUTER for everything it receives and keeps one DEALER per
peer (routing id = our node id) for what it sends, so a peer's identity arrives
with every message. Sending never blocks: when a peer is down (``immediate``) or
its queues are full the message is dropped and counted, because Raft retransmits
and a stalled actor would be worse than a lost message. ``on_undelivered`` hears of
every such drop, so Raft can stop streaming to a dead peer and resend a lost snapshot
at once instead of after a timeout.

What arrives is untrusted (DESIGN section 7). The sender is the member the
connection's routing id names: exactly ``b"2"``, or ``b"2/"`` and a tag (below), never
``b"02"`` or ``b" 2"``; anything else is a stranger. A frame over ``max_message_size``
is refused by ZeroMQ before it is read whole; ``on_receive`` raises ``BadRequest`` for
a payload that fails validation. Every refusal is dropped and counted, and logged at
most once per ``LOG_INTERVAL`` per kind, so a flood of bad frames costs neither a
traceback nor a log line each.

Each DEALER's routing id is our node id and a random tag drawn per socket
(``b"1/3f9c..."``). The ROUTER hands a routing id over to the newest connection
(``ROUTER_HANDOVER``) so that our own reconnection is accepted at once even while the
peer still holds the old, dead one. The tag is new in every process and differs per
peer, so a restarted node never needs the handover, and a connection that merely
claims ``b"2"`` cannot take over node 2's real connection: it would have to know the
tag, which in secure mode travels only inside the encrypted handshake to that peer.

In open mode a process that can reach the port can still claim a member's id and
speak as that member; this stops strangers and malformed or out-of-range frames,
not impersonation, and whoever can read the traffic (and so the tag) can also cut a
member's connection off until it reconnects. In secure mode (``curve``) the ROUTER
is a CURVE server that lets in only the members' public keys (``skylock.net.curve``),
and each DEALER is a CURVE client with this node's key pair that knows its peer's
public key, so a plaintext or unknown-key process cannot complete a handshake. The
ZAP handler names the member whose key completed the handshake (the frame's
``User-Id``), and a frame whose routing id names another member is dropped
(``dropped_impostor``): holding one member's key does not let a process speak as
another.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable

import zmq

from skylock.errors import BadRequest
from skylock.net.address import bound_address, tcp_endpoint
from skylock.net.curve import PEER_DOMAIN, NodeCurve, connect_curve, serve_curve
from skylock.net.io_loop import IOLoop, IOService

log = logging.getLogger(__name__)

RECONNECT_IVL_MS = 50
RECONNECT_IVL_MAX_MS = 200  # a restarted peer is back within a heartbeat or two
SNDHWM = 10000
#: the I/O thread's key for "the peer set changed: open and close dealers" (never a node id)
_RESYNC = 0
#: seconds between two log lines about the same kind of dropped frame
LOG_INTERVAL = 1.0
#: the tag after ``b"<node id>/"`` in a routing id: 16 lowercase hex digits
_TAG = re.compile(rb"[0-9a-f]{16}")

#: test-only fault injection: ``fn(from_id, to_id)`` False means the message is lost
PeerFilter = Callable[[int, int], bool]
#: ``fn(to_id, payloads)``: these payloads could not be handed to that peer's connection
OnUndelivered = Callable[[int, list[bytes]], None]


class _DropLog:
    """Logs dropped frames at most once per interval per kind, with the count since the last line."""

    def __init__(self, node_id: int, interval: float = LOG_INTERVAL) -> None:
        self._node_id = node_id
        self._interval = interval
        self._next: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def note(self, kind: str, detail: str) -> None:
        now = time.monotonic()
        if now < self._next.get(kind, 0.0):
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        self._next[kind] = now + self._interval
        more = self._held.pop(kind, 0)
        suffix = f" (and {more} more since the last report)" if more else ""
        log.warning("node=%d dropped a peer frame (%s): %s%s", self._node_id, kind, detail, suffix)


class PeerTransport(IOService[int]):
    """Delivers byte payloads to peers by node id; calls ``on_receive(from_id, payload)``
    for frames from members only (``from_id`` is the connection's routing id).

    ``on_receive`` and ``on_undelivered`` run on the thread that owns the sockets and must
    return quickly (hand off, don't work); ``on_receive`` raises ``BadRequest`` to refuse a payload,
    which is then counted as ``dropped_invalid``.
    """

    def __init__(
        self,
        node_id: int,
        bind: str,
        peers: dict[int, str],
        on_receive: Callable[[int, bytes], None],
        *,
        context: zmq.Context | None = None,
        queue_limit: int = 10000,
        on_undelivered: OnUndelivered | None = None,
        max_message_size: int | None = None,
        curve: NodeCurve | None = None,
        hosted: bool = False,
    ) -> None:
        """``hosted``: the sockets live on the thread of whoever serves ``loop`` (RaftNode, so
        that a Raft message is stepped and answered without a hand-off to another thread)."""
        super().__init__(
            f"peer-io-{node_id}",
            ("dropped_unreachable", "dropped_filtered", "dropped_malformed",
             "dropped_stranger", "dropped_impostor", "dropped_invalid"),
            context=context,
            queue_limit=queue_limit,
            hosted=hosted,
        )
        self.node_id = node_id
        self._bind = bind
        self._peers = {pid: addr for pid, addr in peers.items() if pid != node_id}
        #: exact routing ids of the members we accept frames from (b"2", never b" 2" or b"02")
        self._members = {str(pid).encode(): pid for pid in self._peers}
        self._max_message_size = max_message_size
        self._curve = curve
        if curve is not None and (missing := set(self._peers) - set(curve.members)):
            raise ValueError(f"node {node_id}: no CURVE public key for peer(s) {sorted(missing)}")
        self._drops = _DropLog(node_id)
        self._on_receive = on_receive
        self._on_undelivered = on_undelivered
        self._filter: PeerFilter | None = None
        self._dealers: dict[int, zmq.Socket] = {}
        self._thread_io: IOLoop[int] | None = None
        self._endpoints: dict[int, str] = {}  # the address each dealer connects to

    # ------------------------------------------------------------------ public

    def send(self, to: int, payload: bytes) -> None:
        """Queue one payload for peer ``to``; never blocks, drops when its queue is full."""
        self.send_many(to, [payload])

    def send_many(self, to: int, payloads: list[bytes]) -> None:
        """Queue a batch for peer ``to`` with a single wake-up of the I/O thread."""
        if to not in self._peers:
            log.warning("node %d: send to unknown peer %r dropped", self.node_id, to)
            return
        keep = self._filter
        if keep is not None and not keep(self.node_id, to):
            self._count("dropped_filtered", len(payloads))
            return
        dropped = self._io.post(to, payloads)
        if dropped:
            log.debug("node %d: queue to peer %d full, dropped %d", self.node_id, to, dropped)

    def set_peers(self, peers: dict[int, str]) -> None:
        """The members changed (any thread): connect to new peers, drop removed ones, and
        accept frames from the new set only. Each map is replaced whole, never mutated, so
        the I/O thread always reads a consistent one."""
        new = {pid: addr for pid, addr in peers.items() if pid != self.node_id}
        if new == self._peers:
            return
        if self._curve is not None and (missing := set(new) - set(self._curve.members)):
            log.error("node %d: no CURVE public key for new peer(s) %s: not connecting to them",
                      self.node_id, sorted(missing))
            new = {pid: addr for pid, addr in new.items() if pid not in missing}
        self._peers = new
        self._members = {str(pid).encode(): pid for pid in new}
        self._io.post(_RESYNC, [b""], force=True)
        log.info("node %d: peers are now %s", self.node_id, sorted(new))

    def set_filter(self, fn: PeerFilter | None) -> None:
        """Test-only: drop messages for which ``fn(from_id, to_id)`` is False (both directions)."""
        self._filter = fn

    # ------------------------------------------------------------------ I/O thread

    def _open(self, io: IOLoop[int]) -> None:
        router = io.socket(zmq.ROUTER)
        router.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a reconnecting peer replaces its dead connection
        router.setsockopt(zmq.RCVHWM, SNDHWM)
        if self._max_message_size is not None:
            # zmq refuses (and disconnects) a bigger frame from its header, before reading it
            router.setsockopt(zmq.MAXMSGSIZE, self._max_message_size)
        if self._curve is not None:
            serve_curve(router, self._curve.keys, PEER_DOMAIN)
        router.bind(tcp_endpoint(self._bind))
        self._address = bound_address(router)
        if self._curve is None:
            io.add_reader(router, self._on_message)
        else:  # the frames' User-Id says whose key the connection holds
            io.add_reader(router, self._on_curve_message, copy=False)
        self._thread_io = io
        self._sync_dealers()

    def _sync_dealers(self) -> None:
        """On the I/O thread: one DEALER per current peer (a peer whose address changed
        gets a new one)."""
        io = self._thread_io
        assert io is not None
        peers = self._peers
        for pid in [p for p in self._dealers if self._endpoints.get(p) != peers.get(p)]:
            self._dealers.pop(pid).close(linger=0)
            self._endpoints.pop(pid, None)
        for pid, addr in peers.items():
            if pid in self._dealers:
                continue
            dealer = io.socket(zmq.DEALER)
            dealer.setsockopt(zmq.ROUTING_ID, b"%d/%s" % (self.node_id, secrets.token_hex(8).encode()))
            dealer.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
            dealer.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS)
            dealer.setsockopt(zmq.SNDHWM, SNDHWM)
            dealer.setsockopt(zmq.IMMEDIATE, 1)  # no queueing towards a peer that is not connected
            if self._curve is not None:
                connect_curve(dealer, self._curve.keys, self._curve.members[pid])
            dealer.connect(tcp_endpoint(addr))
            self._dealers[pid] = dealer
            self._endpoints[pid] = addr

    def _deliver(self, to: int, payloads: list[bytes]) -> None:
        if to == _RESYNC:
            self._sync_dealers()
            return
        dealer = self._dealers.get(to)
        if dealer is None:
            return  # removed since this was queued
        sent = 0
        for i, payload in enumerate(payloads):
            try:
                dealer.send(payload, zmq.NOBLOCK)
            except zmq.Again:
                self._count("dropped_unreachable", len(payloads) - i)
                if self._on_undelivered is not None:
                    self._on_undelivered(to, payloads[i:])
                break
            sent += 1
            self.bytes_sent += len(payload)
        self.sent += sent

    def _on_message(self, frames: list[bytes]) -> None:
        """Open mode: the routing id is all there is to go by."""
        self._receive(frames, None)

    def _on_curve_message(self, frames: list[zmq.Frame]) -> None:
        """Secure mode: also the member whose key authenticated the connection ("" if none)."""
        try:
            user_id = str(frames[-1].get("User-Id"))
        except zmq.ZMQError:  # no ZAP User-Id on this connection: no member's key vouches for it
            user_id = ""
        self._receive([frame.bytes for frame in frames], user_id)

    def _receive(self, frames: list[bytes], user_id: str | None) -> None:
        """``user_id`` is the CURVE key's member in secure mode, None in open mode."""
        if len(frames) != 2:
            self._drop("dropped_malformed", f"routing id {frames[0][:32]!r} sent {len(frames)} frames (want 2)")
            return
        identity, payload = frames
        self.bytes_received += len(payload)
        from_id = self._member_of(identity)
        if from_id is None:
            self._drop("dropped_stranger", f"routing id {identity[:32]!r} is not a member")
            return
        if user_id is not None and user_id != str(from_id):
            self._drop("dropped_impostor", f"routing id {identity[:32]!r} claims node {from_id}, "
                                           f"but the CURVE key is {_key_owner(user_id)}")
            return
        keep = self._filter
        if keep is not None and not keep(from_id, self.node_id):
            self._count("dropped_filtered")
            return
        try:
            self._on_receive(from_id, payload)
        except BadRequest as exc:
            self._drop("dropped_invalid", f"from node {from_id}: {exc.message}")
            return
        self.received += 1

    def _member_of(self, identity: bytes) -> int | None:
        """The member a routing id names (``b"2"`` or ``b"2/<tag>"``), None for anything else."""
        name, slash, tag = identity.partition(b"/")
        if slash and not _TAG.fullmatch(tag):
            return None
        return self._members.get(name)

    def _drop(self, counter: str, detail: str) -> None:
        self._count(counter)
        self._drops.note(counter, detail)


def _key_owner(user_id: str) -> str:
    """How a log line names the holder of a CURVE key, from its ZAP User-Id."""
    return f"node {user_id}'s" if user_id.isdigit() else "no member's"
