"""The HTTP probe's status ask goes through RaftNode's batching like every other input:
the actor processes the Ready of a batch once its inbox is empty, so an input that skipped
``on_receive`` (a pykka ask) and arrived last would leave that Ready until the next input."""

from __future__ import annotations

import random
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from skylock.actors import peer_protocol
from skylock.actors.messages import LinearizableRead, OwnStatusAsk, PeerRaftMessage, Query, ReplyTo
from skylock.actors.outbox import Outbox
from skylock.actors.raft_node import RaftNode
from skylock.raft import Config, ConfState, MemoryStorage, Message, MessageType as MT, RawNode
from skylock.storage import WAL, SnapshotStore
from tests.actors.test_raft_node_catch_up import Recorder
from tests.net.netutil import wait_until


def test_a_status_ask_arriving_last_leaves_no_input_waiting(tmp_path: Path) -> None:
    storage = MemoryStorage()
    storage.bootstrap(ConfState((1, 2, 3)))
    raw = RawNode(Config(id=1, rng=random.Random(7)), storage)
    read_indexes: list[Message] = []

    def send(to: int, payload: bytes) -> None:
        kind, body = peer_protocol.decode_peer(payload)
        if kind == peer_protocol.RAFT and body.type == MT.READ_INDEX:
            read_indexes.append(body)

    wal, _ = WAL.open(tmp_path / "wal")
    actor = RaftNode.start(1, raw, storage, ConfState((1, 2, 3)), wal, SnapshotStore(tmp_path / "snap"),
                           send, Outbox(lambda c, f: None), {1: {}, 2: {}, 3: {}}, 100, 32 << 20, 6.0,
                           lambda exc: None)
    try:
        actor.proxy().connect(Recorder(), Recorder()).get()
        actor.tell(PeerRaftMessage(Message(MT.HEARTBEAT, to=1, frm=2, term=1)))  # node 2 leads
        wait_until(lambda: len(read_indexes) == 1, what="the catch-up ReadIndex")
        answer: Future[dict[str, Any]] = Future()
        actor.tell(LinearizableRead(Query("get", {"path": "/a"}, ReplyTo(b"c", 1))))
        actor.tell(OwnStatusAsk(answer))
        assert answer.result(timeout=10)["leader"] == 2
        # no tick, no other input: the read is forwarded by the Ready of its own batch
        wait_until(lambda: len(read_indexes) == 2, what="the read forwarded to the leader")
    finally:
        actor.stop()
