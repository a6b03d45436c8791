"""Every message the honest core sends in the simulator passes the peer validator.

The validator drops what an honest peer never sends; if it refused something the core
does send (a new field, a term-0 reply), that message would be lost on every retry and
the cluster would stall. This runs the real core over many seeds and parses each message
exactly as a receiving node would."""

from __future__ import annotations

import pytest

from skylock.errors import BadRequest
from skylock.net.peer_codec import PeerLimits, encode_raft, parse_peer_frame
from tests.sim import network
from tests.sim.cluster import run_seed

SEEDS = 400


def test_what_the_core_sends_is_what_the_validator_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = PeerLimits.for_batches_of(1 << 20)
    refused: list[str] = []
    seen = 0
    send = network.Network.send

    def checked_send(self, now, msg, incarnation):  # noqa: ANN001 - the simulator's own signature
        nonlocal seen
        seen += 1
        try:
            parse_peer_frame(encode_raft(msg), sender=msg.frm, receiver=msg.to, limits=limits)
        except BadRequest as exc:
            refused.append(f"{msg}: {exc}")
        return send(self, now, msg, incarnation)

    monkeypatch.setattr(network.Network, "send", checked_send)
    for seed in range(SEEDS):
        run_seed(seed)
    assert seen > 10 * SEEDS
    assert refused == [], refused[:5]
