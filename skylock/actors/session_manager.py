"""The SessionManager actor: session liveness, which never touches the log.

Any node takes heartbeats. A follower batches the ids it saw and forwards them
to the leader every check interval; the leader keeps one deadline per session
and proposes ``expire_session`` for those past it. A node that becomes leader
restarts every deadline at a full TTL, so a leader change can delay an expiry
but never expire a live session early: the TTL is a lower bound. While there is
no leader, nothing expires.

A follower answers a heartbeat only when the leader has acknowledged the batch
that carried it, and the leader answers (or acknowledges) only after a ReadIndex
round confirms that it still leads. So "ok" always means the current leader
restarted that session's deadline after the client sent it; a batch not
acknowledged within ``ack_wait`` (or sent to a leader that is no longer one) is
answered ``NoLeader`` and the client moves to another node. Otherwise a follower
cut off from the leader, or a leader that has not noticed it was replaced, would
keep a client believing in a session the real leader is expiring.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
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
    PeerTouchesAcked,
    Propose,
    Query,
    ReplyTo,
    SessionsChanged,
    TouchesConfirmed,
)
from skylock.actors.outbox import Outbox
from skylock.errors import NoLeader
from skylock.state import commands


#: A forwarded batch of heartbeats not acknowledged within this many check intervals
#: (at least ``MIN_ACK_WAIT`` seconds) is answered NoLeader: the client tries another node.
ACK_WAIT_CHECKS = 4
MIN_ACK_WAIT = 0.2


#: The reply address of a confirmation nobody outside waits for (the Store never answers it).
_NOBODY = ReplyTo(b"", 0)


@dataclass(slots=True)
class _Waiting:
    """A heartbeat a follower holds until the leader acknowledges its batch."""

    reply: ReplyTo
    session_id: str
    ttl: float


@dataclass(slots=True)
class _Batch:
    leader: int
    sent_at: float
    waiting: list[_Waiting]


class SessionManager(NodeActor):
    def __init__(self, node_id: int, outbox: Outbox, send_to_peer: Callable[[int, bytes], None],
                 check_interval: float) -> None:
        super().__init__(node_id)
        self.outbox = outbox
        self.send_to_peer = send_to_peer
        self.ack_wait = max(MIN_ACK_WAIT, ACK_WAIT_CHECKS * check_interval)
        self.check_interval = check_interval
        #: leader: since when this node has not read its client socket, while that lasts
        self._deaf_since: float | None = None
        self._unsent: list[_Waiting] = []  # follower: heartbeats for the next batch
        self._batches: dict[int, _Batch] = {}  # follower: sent, not acknowledged yet
        self._batch_ids = itertools.count(1)
        self.raft: pykka.ActorRef[Any] | None = None
        # Sessions are keyed by their secret id, which heartbeats carry; the applied table
        # names closed sessions by public id, and logs show only public ids.
        self._ttl: dict[str, float] = {}  # session id -> TTL in seconds (the applied table)
        self._public: dict[str, str] = {}  # session id -> public id
        self._secret: dict[str, str] = {}  # public id -> session id
        self._deadline: dict[str, float] = {}  # kept on the leader only
        #: proposed for expiry (RaftNode proposes it until it commits or this node stops leading)
        self._expiring: set[str] = set()
        self._touched: set[str] = set()  # seen on a follower, not yet forwarded
        self._leader = 0
        self._is_leader = False
        self.handlers = {
            Heartbeat: self._on_heartbeat,
            PeerTouches: self._on_peer_touches,
            PeerTouchesAcked: self._on_touches_acked,
            TouchesConfirmed: self._on_touches_confirmed,
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
        if ttl is None or (self._is_leader and msg.reply is not None):
            # Not in this node's applied table (it may lag the node that opened the session),
            # or we lead: answer at a confirmed linearizable point. The Store's check touches
            # the session (a Heartbeat without reply) when it answers.
            if msg.reply is not None:
                self._confirm(Query("session.check", {"session_id": msg.session_id}, msg.reply))
            return
        if self._is_leader:
            self._touch(msg.session_id, time.monotonic())
            return
        if not self._leader:
            if msg.reply is not None:
                self.outbox.error(msg.reply, self._cut_off(msg.session_id))
            return
        self._touched.add(msg.session_id)
        if msg.reply is not None:
            self._unsent.append(_Waiting(msg.reply, msg.session_id, ttl))
            if not self._batches:  # nothing in flight: go now rather than at the next check
                self._forward(time.monotonic())

    def _answer(self, waiting: _Waiting) -> None:
        self.outbox.ok(waiting.reply, {"session_id": waiting.session_id, "ttl_ms": int(waiting.ttl * 1000)})

    @staticmethod
    def _cut_off(session_id: str) -> NoLeader:
        return NoLeader("this node cannot confirm heartbeats with a leader now: try another node",
                        session_id=session_id)

    def _refuse(self, waiting: list[_Waiting]) -> None:
        for w in waiting:
            self.outbox.error(w.reply, self._cut_off(w.session_id))

    def _confirm(self, query: Query) -> None:
        """Answer only once a ReadIndex round confirms we still lead: a leader that does not
        know yet that it was replaced must not vouch for sessions the new one may expire."""
        assert self.raft is not None
        self.raft.tell(LinearizableRead(query))

    def _on_peer_touches(self, msg: PeerTouches) -> None:
        if not self._is_leader:
            return  # sent to us as leader, but we are not (any more): no ack, the follower says no
        now = time.monotonic()
        for session_id in msg.session_ids:
            self._touch(session_id, now)
        self._confirm(Query("session.touches", {"frm": msg.frm, "batch_id": msg.batch_id}, _NOBODY))

    def _on_touches_confirmed(self, msg: TouchesConfirmed) -> None:
        self.send_to_peer(msg.frm, peer_protocol.encode_peer(peer_protocol.TOUCH_ACK, msg.batch_id))

    def _on_touches_acked(self, msg: PeerTouchesAcked) -> None:
        batch = self._batches.get(msg.batch_id)
        if batch is None or batch.leader != msg.frm:
            return
        del self._batches[msg.batch_id]
        for waiting in batch.waiting:
            self._answer(waiting)

    def _on_sessions_changed(self, msg: SessionsChanged) -> None:
        now = time.monotonic()
        if msg.reset:
            self._ttl.clear()
            self._public.clear()
            self._secret.clear()
            self._deadline = {s: d for s, d in self._deadline.items() if s in msg.opened}
        for session_id, ttl_ms in msg.opened.items():
            self._ttl[session_id] = ttl_ms / 1000.0
            self._deadline.setdefault(session_id, now + ttl_ms / 1000.0)
            public_id = msg.public.get(session_id, "")
            self._public[session_id] = public_id
            self._secret[public_id] = session_id
        for public_id in msg.closed:
            session_id = self._secret.pop(public_id, "")
            if self._public.get(session_id) != public_id:
                continue  # unknown here, or the same secret opened again since (a new public id)
            del self._public[session_id]
            self._ttl.pop(session_id, None)
            self._deadline.pop(session_id, None)
            self._expiring.discard(session_id)
            self._touched.discard(session_id)

    def _on_leadership(self, msg: LeadershipChanged) -> None:
        became_leader = msg.is_leader and not self._is_leader
        if msg.leader != self._leader or became_leader:
            held = self._unsent + [w for b in self._batches.values() for w in b.waiting]
            self._unsent, self._batches = [], {}
            if became_leader:
                for waiting in held:  # every deadline restarts at a full TTL just below
                    self._answer(waiting)
            else:
                self._refuse(held)  # the leader they went to may never have seen them
        self._leader, self._is_leader = msg.leader, msg.is_leader
        if became_leader:
            now = time.monotonic()
            self._deadline = {s: now + ttl for s, ttl in self._ttl.items()}
            self._expiring.clear()
            self._deaf_since = None
            self.log.info("node=%s term=%s leader: restarted %d session deadlines", self.node_id, msg.term, len(self._ttl))

    def _forward(self, now: float) -> None:
        """Follower: send the leader what we saw since the last check, as one batch whose
        acknowledgement answers its heartbeats; refuse batches left unacknowledged."""
        for batch_id in [b for b, batch in self._batches.items() if now - batch.sent_at > self.ack_wait]:
            self._refuse(self._batches.pop(batch_id).waiting)
        if not self._leader or not (self._touched or self._unsent):
            return
        batch_id = next(self._batch_ids)
        self._batches[batch_id] = _Batch(self._leader, now, self._unsent)
        body = [batch_id, sorted(self._touched)]
        self.send_to_peer(self._leader, peer_protocol.encode_peer(peer_protocol.TOUCH, body))
        self._touched.clear()
        self._unsent = []

    def _listening(self, now: float, heard_until: float | None) -> bool:
        """False while this node has not read its client socket for a check interval (its
        Store busy with something long, such as a snapshot of a large tree): heartbeats may
        wait there unread, so nothing expires. When it reads again, every deadline moves on
        by the time it was deaf, as if the sessions' clock had stopped: the followers, which
        snapshot at the same index, were most likely deaf as long."""
        lag = 0.0 if heard_until is None else now - heard_until
        if lag > self.check_interval:
            if self._deaf_since is None:
                self._deaf_since = heard_until
            return False
        if self._deaf_since is not None:
            deaf, self._deaf_since = now - self._deaf_since, None
            for session_id in self._deadline:
                self._deadline[session_id] += deaf
            self.log.warning("node=%s read no client frames for %.1f s: session deadlines moved on by as much",
                             self.node_id, deaf)
        return True

    def _on_check(self, msg: CheckSessions) -> None:
        now = msg.now
        if not self._is_leader:
            self._forward(now)
            return
        if not self._listening(now, msg.heard_until):
            return
        expired = [
            s for s, deadline in self._deadline.items()
            if deadline <= now and s not in self._expiring
        ]
        if not expired:
            return
        self._expiring.update(expired)
        self.log.info("node=%s expiring sessions %s", self.node_id,
                      ",".join(self._public.get(s, "?") for s in expired))
        assert self.raft is not None
        self.raft.tell(Propose(commands.expire_session(expired), leader_only=True))
