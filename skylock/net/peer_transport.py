"""Node-to-node messages over ZeroMQ; payloads are opaque bytes.

Each node binds one ROUTER for everything it receives and keeps one DEALER per
peer (routing id = our node id) for what it sends, so a peer's identity arrives
with every message. Sending never blocks: when a peer is down (``immediate``) or
its queues are full the message is dropped and counted, because Raft retransmits
and a stalled actor would be worse than a lost message. ``on_undelivered`` hears of
every such drop, so Raft can stop streaming to a dead peer and resend a lost snapshot
at once instead of after a timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import zmq

from skylock.net.address import bound_address, tcp_endpoint
from skylock.net.io_loop import IOService, IOThread

log = logging.getLogger(__name__)

RECONNECT_IVL_MS = 50
RECONNECT_IVL_MAX_MS = 200  # a restarted peer is back within a heartbeat or two
SNDHWM = 10000

#: test-only fault injection: ``fn(from_id, to_id)`` False means the message is lost
PeerFilter = Callable[[int, int], bool]
#: ``fn(to_id, payloads)``: these payloads could not be handed to that peer's connection
OnUndelivered = Callable[[int, list[bytes]], None]


class PeerTransport(IOService[int]):
    """Delivers byte payloads to peers by node id; calls ``on_receive(from_id, payload)``.

    ``on_receive`` and ``on_undelivered`` run on the I/O thread and must return quickly
    (hand off, don't work).
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
    ) -> None:
        super().__init__(
            f"peer-io-{node_id}",
            ("sent", "received", "dropped_unreachable", "dropped_filtered", "dropped_malformed"),
            context=context,
            queue_limit=queue_limit,
        )
        self.node_id = node_id
        self._bind = bind
        self._peers = {pid: addr for pid, addr in peers.items() if pid != node_id}
        self._on_receive = on_receive
        self._on_undelivered = on_undelivered
        self._filter: PeerFilter | None = None
        self._dealers: dict[int, zmq.Socket] = {}

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

    def set_filter(self, fn: PeerFilter | None) -> None:
        """Test-only: drop messages for which ``fn(from_id, to_id)`` is False (both directions)."""
        self._filter = fn

    # ------------------------------------------------------------------ I/O thread

    def _open(self, io: IOThread[int]) -> None:
        router = io.socket(zmq.ROUTER)
        router.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a restarted peer takes its identity back
        router.setsockopt(zmq.RCVHWM, SNDHWM)
        router.bind(tcp_endpoint(self._bind))
        self._address = bound_address(router)
        io.add_reader(router, self._on_message)
        identity = str(self.node_id).encode()
        for pid, addr in self._peers.items():
            dealer = io.socket(zmq.DEALER)
            dealer.setsockopt(zmq.ROUTING_ID, identity)
            dealer.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
            dealer.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS)
            dealer.setsockopt(zmq.SNDHWM, SNDHWM)
            dealer.setsockopt(zmq.IMMEDIATE, 1)  # no queueing towards a peer that is not connected
            dealer.connect(tcp_endpoint(addr))
            self._dealers[pid] = dealer

    def _deliver(self, to: int, payloads: list[bytes]) -> None:
        dealer = self._dealers[to]
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
        self._count("sent", sent)

    def _on_message(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            self._count("dropped_malformed")
            log.warning("node %d: dropped a %d-frame peer message (want 2)", self.node_id, len(frames))
            return
        identity, payload = frames
        try:
            from_id = int(identity.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            self._count("dropped_malformed")
            log.warning("node %d: dropped a message from unknown identity %r", self.node_id, identity[:32])
            return
        keep = self._filter
        if keep is not None and not keep(from_id, self.node_id):
            self._count("dropped_filtered")
            return
        self._count("received")
        self._on_receive(from_id, payload)
