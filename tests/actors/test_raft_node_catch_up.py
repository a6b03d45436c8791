"""A node asks the leader to vouch for its state (its catch-up ReadIndex) as soon as it
learns of a leader, not at its next tick: until then its local reads answer NoLeader, and
a tick can be far off (a CI run once read locally within that gap)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from skylock.actors import peer_protocol
from skylock.actors.messages import PeerRaftMessage
from skylock.actors.outbox import Outbox
from skylock.actors.raft_node import RaftNode
from skylock.raft import Config, ConfState, MemoryStorage, Message, MessageType as MT, RawNode
from skylock.storage import WAL, SnapshotStore
from tests.net.netutil import wait_until


class Recorder:
    """Stands in for the Store and the SessionManager: keeps what it is told."""

    def __init__(self) -> None:
        self.told: list[Any] = []

    def tell(self, message: Any) -> None:
        self.told.append(message)


def test_a_follower_asks_its_new_leader_at_once_without_a_tick(tmp_path: Path) -> None:
    storage = MemoryStorage()
    storage.bootstrap(ConfState((1, 2, 3)))
    raw = RawNode(Config(id=1, rng=random.Random(7)), storage)
    sent: list[tuple[int, Message]] = []

    def send(to: int, payload: bytes) -> None:
        kind, body = peer_protocol.decode_peer(payload)
        if kind == peer_protocol.RAFT:
            sent.append((to, body))

    wal, _ = WAL.open(tmp_path / "wal")
    actor = RaftNode.start(1, raw, storage, ConfState((1, 2, 3)), wal, SnapshotStore(tmp_path / "snap"),
                           send, Outbox(lambda c, f: None), {1: {}, 2: {}, 3: {}}, 100, 32 << 20, 6.0,
                           lambda exc: None)
    store, sessions = Recorder(), Recorder()
    try:
        actor.proxy().connect(store, sessions).get()
        # node 2 won term 1 and says so; no Tick is ever sent to this actor
        actor.tell(PeerRaftMessage(Message(MT.HEARTBEAT, to=1, frm=2, term=1)))
        wait_until(lambda: any(m.type == MT.READ_INDEX and to == 2 for to, m in sent),
                   what="the catch-up ReadIndex sent to the new leader")
    finally:
        actor.stop()
