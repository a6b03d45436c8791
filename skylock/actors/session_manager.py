"""The SessionManager actor: session liveness, which never touches the log.

Any node takes heartbeats. A follower batches the ids it saw and forwards them
to the leader every check interval; the leader keeps one deadline per session
and proposes ``expire_session`` for those past it. A node that becomes leader
restarts every deadline at a full TTL, so a leader change can delay an expiry
but never expire a live session early: the TTL is a lower bound. While there is
no leader, nothing expires.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import pykka

from skylock.actors import peer_protocol
from skylock.actors.base import NodeActor
from skylock.actors.messages import (
    CheckSessions,
    Heartbeat,
    LeadershipChanged,
    LinearizableRead,
    PeerTouches,
    Propose,
    Query,
    SessionsChanged,
)
from skylock.actors.outbox import Outbox
from skylock.actors.proposals import encode_proposal
from skylock.state import commands

#: How long the leader waits for a proposed expiry to apply before proposing it again.
EXPIRY_RETRY_SECONDS = 2.0


class SessionManager(NodeActor):
    def __init__(self, node_id: int, outbox: Outbox, send_to_peer: Callable[[int, bytes], None]) -> None:
        super().__init__(node_id)
        self.outbox = outbox
        self.send_to_peer = send_to_peer
        self.raft: pykka.ActorRef[Any] | None = None
        self._ttl: dict[str, float] = {}  # session id -> TTL in seconds (the applied table)
        self._deadline: dict[str, float] = {}  # kept on the leader only
        self._expiring: dict[str, float] = {}  # proposed for expiry, retry after
        self._touched: set[str] = set()  # seen on a follower, not yet forwarded
        self._leader = 0
        self._is_leader = False
        self.handlers = {
            Heartbeat: self._on_heartbeat,
            PeerTouches: self._on_peer_touches,
            SessionsChanged: self._on_sessions_changed,
            LeadershipChanged: self._on_leadership,
            CheckSessions: self._on_check,
        }

    def connect(self, raft: pykka.ActorRef[Any]) -> None:
        self.raft = raft

    def _touch(self, session_id: str, now: float) -> None:
        ttl = self._ttl.get(session_id)
        if ttl is None:
            return
        if self._is_leader:
            self._deadline[session_id] = now + ttl
        else:
            self._touched.add(session_id)

    def _on_heartbeat(self, msg: Heartbeat) -> None:
        ttl = self._ttl.get(msg.session_id)
        if ttl is None:
            if msg.reply is not None:
                # Not in this node's applied table: it may lag the node that opened
                # the session, so ask at a linearizable point before saying expired.
                assert self.raft is not None
                query = Query("session.check", {"session_id": msg.session_id}, msg.reply)
                self.raft.tell(LinearizableRead(query))
            return
        self._touch(msg.session_id, time.monotonic())
        if msg.reply is not None:
            self.outbox.ok(msg.reply, {"session_id": msg.session_id, "ttl_ms": int(ttl * 1000)})

    def _on_peer_touches(self, msg: PeerTouches) -> None:
        now = time.monotonic()
        for session_id in msg.session_ids:
            self._touch(session_id, now)

    def _on_sessions_changed(self, msg: SessionsChanged) -> None:
        now = time.monotonic()
        if msg.reset:
            self._ttl.clear()
            self._deadline = {s: d for s, d in self._deadline.items() if s in msg.opened}
        for session_id, ttl_ms in msg.opened.items():
            self._ttl[session_id] = ttl_ms / 1000.0
            self._deadline.setdefault(session_id, now + ttl_ms / 1000.0)
        for session_id in msg.closed:
            self._ttl.pop(session_id, None)
            self._deadline.pop(session_id, None)
            self._expiring.pop(session_id, None)
            self._touched.discard(session_id)

    def _on_leadership(self, msg: LeadershipChanged) -> None:
        became_leader = msg.is_leader and not self._is_leader
        self._leader, self._is_leader = msg.leader, msg.is_leader
        if became_leader:
            now = time.monotonic()
            self._deadline = {s: now + ttl for s, ttl in self._ttl.items()}
            self._expiring.clear()
            self.log.info("node=%s term=%s leader: restarted %d session deadlines", self.node_id, msg.term, len(self._ttl))

    def _on_check(self, msg: CheckSessions) -> None:
        now = msg.now
        if not self._is_leader:
            if self._touched and self._leader:
                body = sorted(self._touched)
                self.send_to_peer(self._leader, peer_protocol.encode_peer(peer_protocol.TOUCH, body))
                self._touched.clear()
            return
        expired = [
            s for s, deadline in self._deadline.items()
            if deadline <= now and self._expiring.get(s, 0.0) <= now
        ]
        if not expired:
            return
        for session_id in expired:
            self._expiring[session_id] = now + EXPIRY_RETRY_SECONDS
        self.log.info("node=%s expiring sessions %s", self.node_id, ",".join(expired))
        assert self.raft is not None
        self.raft.tell(Propose(encode_proposal(self.node_id, 0, commands.expire_session(expired))))
