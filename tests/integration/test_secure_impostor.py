"""A member's CURVE key cannot speak as another member, against a real secure 3-node cluster.

The attacker holds follower O's real key pair (read from the generated key files) and
connects to follower F's peer port with the leader L's routing id. The handshake
succeeds (O's key is a member's), but F drops every frame as an impostor's: forged
heartbeats with a huge term, a forged PROP and a forged TIMEOUT_NOW move no term, apply
nothing, start no election. And the impostor's connection does not take over L's real
connection to F: while it stays open, L's writes keep reaching F.

Sentinels (3-frame messages, logged with the routing id as malformed) follow the
forged frames on the same connection, which keeps order: once a sentinel is in F's
log, every forged frame before it was handled.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import zmq

from skylock.state.envelope import encode_entry
from skylock.config import load_config
from skylock.net.curve import KeyPair, connect_curve, load_public_key
from skylock.net.peer_codec import encode_raft
from skylock.raft.types import Entry, Message, MessageType as MT
from skylock.state import commands
from tests.integration.cluster import LocalCluster, wait_until

pytestmark = pytest.mark.timeout(240)

FORGED_TERM = 10**6


def _terms(cluster: LocalCluster) -> dict[int, int]:
    return {nid: int(cluster.node_client(nid).call("cluster.leader")["term"]) for nid in (1, 2, 3)}


def test_a_members_key_cannot_speak_as_the_leader(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path, secure=True)
    cluster.start()
    ctx = zmq.Context()
    try:
        leader = cluster.leader(timeout=30)
        cluster.client().create("/before", b"")
        cluster.wait_converged()
        victim, other = (n for n in (1, 2, 3) if n != leader)
        terms = _terms(cluster)
        victim_cfg = load_config(cluster.configs[victim - 1])
        other_keys = KeyPair.load(load_config(cluster.configs[other - 1]).security.curve_secret_key)
        routing_id = str(leader).encode()

        impostor = ctx.socket(zmq.DEALER)
        impostor.setsockopt(zmq.LINGER, 0)
        impostor.setsockopt(zmq.ROUTING_ID, routing_id)
        connect_curve(impostor, other_keys, load_public_key(victim_cfg.security.member_key_file(victim)))
        impostor.connect(f"tcp://{victim_cfg.me.peer_address}")
        now_ms = int(time.time() * 1000)
        prop = encode_entry(99, 0, commands.create("/forged", b"forged", now_ms=now_ms))
        forged = [
            encode_raft(Message(MT.HEARTBEAT, to=victim, frm=leader, term=FORGED_TERM)),
            encode_raft(Message(MT.PROP, to=victim, frm=leader, entries=(Entry(0, 0, data=prop),))),
            encode_raft(Message(MT.TIMEOUT_NOW, to=victim, frm=leader, term=terms[victim])),
        ]
        for payload in forged:
            impostor.send(payload)
        log = tmp_path / f"node{victim}.log"
        sentinel = re.compile(rb"routing id " + re.escape(repr(routing_id).encode()) + rb" sent 3 frames")

        def handled() -> bool:
            if sentinel.search(log.read_bytes()):
                return True
            impostor.send_multipart([b"sentinel", b"x"])  # again: such drops are logged once a second
            return False

        wait_until(handled, interval=0.2, what=f"node {victim} to handle the forged frames")
        text = log.read_bytes()
        assert (b"(dropped_impostor): routing id %r claims node %d, but the CURVE key is node %d's"
                % (routing_id, leader, other)) in text

        # the impostor stays connected: the leader's own link to the victim must keep working
        for i in range(3):
            cluster.client().create(f"/after-{i}", b"")
        wait_until(lambda: cluster.node_client(victim).exists("/after-2", consistency="local") is not None,
                   what=f"the leader's writes applied on node {victim}")
        cluster.wait_converged()
        assert cluster.leader() == leader
        assert _terms(cluster) == terms
        for nid in (1, 2, 3):
            assert cluster.node_client(nid).exists("/forged", consistency="local") is None
        impostor.close()
    finally:
        ctx.destroy(linger=0)
        cluster.close()
