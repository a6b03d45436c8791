"""The RaftNode actor: drives the pure Raft core and the write-ahead log.

For every Ready batch the order is persist -> send -> apply: hard state, entries
and snapshot reach the disk with one fsync before any message that depends on
them leaves, and committed entries go to the Store only after that. Two exceptions:
the leader's appends (``Ready.send_before_persist``) leave before its own fsync, which
then overlaps the followers' (Raft thesis 10.2.1); and a Ready that commits entries
without bringing new ones hands them to the Store first (they are durable already),
so the Store applies while this thread sends and writes the commit index. Inputs are
batched: proposals and reads that arrive together become one log append and one
ReadIndex round, and one fsync covers them all (group commit).

The peer transport lives on this actor's thread (``SocketHost``): Raft messages from
peers are read and stepped, and this node's are sent, without a hand-off to another
thread. The pending proposals are this actor's too (``ProposalTable``): it retries and
times them out on its tick, and hands each committed one's waiter to the Store.

Two duties beyond the Ready loop: after start it does one ReadIndex round of its own (as soon
as it knows a leader) and tells the Store ``CaughtUp`` once it has applied that far, so local
reads are never served from a state that no leader has vouched for; and on ``StateLost``
(this node lost log entries it had acknowledged) it stops doing anything and calls
``on_fatal`` once.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import pykka

from skylock.actors import peer_protocol
from skylock.actors.cluster_status import with_lag
from skylock.actors.node_metrics import NodeMetrics
from skylock.actors.member_desk import MemberDesk, SetPeers
from skylock.actors.messages import (
    ApplyEntries,
    CaughtUp,
    LeadershipChanged,
    LinearizableRead,
    MemberRequest,
    OwnStatusAsk,
    PeerRaftMessage,
    PeerStatus,
    PeerStatusRequest,
    PeerUnreachable,
    Propose,
    Query,
    ReplyTo,
    RestoreSnapshot,
    ServeReads,
    SnapshotTaken,
    StatusRequest,
    Tick,
)
from skylock.actors.outbox import Outbox
from skylock.actors.gauge import Gauge
from skylock.actors.proposals import ProposalTable
from skylock.actors.socket_inbox import SocketHost
from skylock.actors.raft_view import RaftViewBoard
from skylock.errors import NoLeader, NotLeader, Timeout
from skylock.net.io_loop import IOLoop
from skylock.raft import (ConfState, MemoryStorage, MessageType, ProposalDropped, RawNode, Ready, Role,
                          StateLost)
from skylock.storage import WAL, SnapshotStore

SendToPeer = Callable[[int, bytes], None]
#: told once, on the actor's thread, when the node cannot go on safely (e.g. ``StateLost``)
OnFatal = Callable[[BaseException], None]

#: Under a constant stream of inputs the inbox never empties: process Ready at least this often.
MAX_INPUTS_PER_READY = 256
#: Ticks that may go missing before the read lease is given up (see ``_check_stall``).
STALL_TICKS = 2.5
#: Seconds before the catch-up ReadIndex is asked again (without a leader it is dropped silently).
SYNC_RETRY = 1.0


def compaction_point(storage: MemoryStorage, index: int, keep_entries: int, keep_bytes: int) -> int:
    """Where to compact after a snapshot at ``index``: the entries kept behind it for slow
    followers are at most ``keep_entries`` and hold at most ``keep_bytes`` of data (a follower
    further behind gets the snapshot), so large entries cannot pin gigabytes in memory.
    Walks back over at most ``keep_entries`` entries, once per snapshot."""
    lo = max(storage.first_index(), index - keep_entries + 1)
    if lo > index:
        return index - keep_entries
    entries = storage.entries(lo, index + 1)
    kept = 0
    for k in range(len(entries) - 1, -1, -1):
        kept += len(entries[k].data)
        if kept > keep_bytes:
            return entries[k].index
    return lo - 1


@dataclass(slots=True)
class _StatusRound:
    reply: ReplyTo
    deadline: float
    answers: dict[int, dict[str, Any]]


@dataclass(slots=True)
class _WaitingReads:
    queries: list[Query]
    deadline: float


class RaftNode(SocketHost):
    def __init__(
        self,
        node_id: int,
        raw_node: RawNode,
        storage: MemoryStorage,
        conf: ConfState,
        wal: WAL,
        snapshots: SnapshotStore,
        send_to_peer: SendToPeer,
        outbox: Outbox,
        members: dict[int, dict[str, Any]],
        keep_entries: int,
        keep_bytes: int,
        request_timeout: float,
        on_fatal: OnFatal,
        metrics: NodeMetrics | None = None,
        proposals_waiting: Gauge | None = None,
        peer_io: IOLoop[Any] | None = None,
        view: RaftViewBoard | None = None,
        set_peers: SetPeers | None = None,
        tick_interval: float = 0.05,
    ) -> None:
        """``proposals_waiting`` is where this actor publishes the size of its proposal table;
        ``peer_io`` is the peer transport's loop, served on this actor's thread (``SocketHost``);
        ``metrics``: the node's figures; this actor writes its Raft and WAL ones; ``view``: where
        term, role and leader are published for other threads (the logs); ``set_peers`` hears the
        peers to connect to whenever the configuration changes; ``tick_interval``: the ticker's
        period, to notice when ticks stopped coming (a pause) and the read lease may be stale."""
        super().__init__(node_id, peer_io)
        self.metrics = metrics or NodeMetrics(node_id)
        self.node = raw_node
        self.storage = storage
        self.conf = conf
        self.wal = wal
        self.snapshots = snapshots
        self.send_to_peer = send_to_peer
        self.outbox = outbox
        self.proposals = ProposalTable(node_id)
        self.proposals_waiting = proposals_waiting if proposals_waiting is not None else Gauge()
        self.members = members
        self.keep_entries = keep_entries
        self.keep_bytes = keep_bytes
        self.request_timeout = request_timeout
        self.tick_interval = tick_interval
        self._last_tick_at = 0.0
        self.on_fatal = on_fatal
        self._failed = False
        self.store: pykka.ActorRef[Any] | None = None
        self.sessions: pykka.ActorRef[Any] | None = None
        self.locks: pykka.ActorRef[Any] | None = None  # told of leadership, for lock-delays
        #: inputs were stepped since the last Ready was processed
        self._dirty = False
        self._stepped = 0
        #: first attempts stepped since the last Ready: (tag, entry data)
        self._proposals: list[tuple[int, bytes]] = []
        #: retries due since the last Ready (their first attempt may still commit)
        self._retries: list[bytes] = []
        self._reads: list[Query] = []
        self._waiting_reads: dict[bytes, _WaitingReads] = {}
        self._read_ids = itertools.count(1)
        # A ReadIndex context must be unique in the cluster: the leader keys pending reads by
        # it, and an answer to an earlier incarnation of this node must not match a new read.
        self._read_prefix = node_id.to_bytes(4, "big") + os.urandom(8)
        #: the outstanding ReadIndex of our own catch-up, and when to ask again
        self._sync_ctx: bytes | None = None
        self._sync_retry_at = 0.0
        #: the read index it returned; None once caught up (or before the answer)
        self._sync_index: int | None = None
        self._caught_up = False
        #: the snapshot index last sent to each follower, until it is reported on
        self._snapshots_out: dict[int, int] = {}
        self._status_rounds: dict[int, _StatusRound] = {}
        self._round_ids = itertools.count(1)
        self._leader = 0
        self._role = Role.FOLLOWER
        self._term = storage.hard_state.term  # as recovered
        self.view = view if view is not None else RaftViewBoard()
        self._publish_view()
        self.desk = MemberDesk(node_id, raw_node, outbox, members, set_peers, request_timeout)
        self.handlers = {
            Tick: self._on_tick,
            PeerRaftMessage: self._on_peer_message,
            Propose: self._on_propose,
            LinearizableRead: self._on_read,
            SnapshotTaken: self._on_snapshot_taken,
            StatusRequest: self._on_status_request,
            OwnStatusAsk: self._on_own_status_ask,
            PeerStatusRequest: self._on_peer_status_request,
            PeerStatus: self._on_peer_status,
            PeerUnreachable: self._on_peer_unreachable,
            MemberRequest: self._on_member_request,
        }

    def connect(self, store: pykka.ActorRef[Any], sessions: pykka.ActorRef[Any],
                locks: pykka.ActorRef[Any] | None = None) -> None:
        """Wire the actors this one tells (they are started after it)."""
        self.store = store
        self.sessions = sessions
        self.locks = locks
        self.desk.sync()
        self._schedule_flush()

    def on_stop(self) -> None:
        self.wal.close()
        super().on_stop()

    # ---- inputs -------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        self._dirty = True

    def on_receive(self, message: Any) -> None:
        """Step every queued input first, then process Ready once: the messages that
        arrived together share one log append, one fsync and one round of sends."""
        if self._failed:
            return  # the node is stopping: its state must not be used, nor its failure repeated
        super().on_receive(message)
        self._stepped += 1
        if self._dirty and (self.actor_inbox.empty() or self._stepped >= MAX_INPUTS_PER_READY):
            self._dirty = False
            self._stepped = 0
            try:
                self._flush()
            except Exception:  # noqa: BLE001 - logged; the node keeps running
                self.log.exception("node=%s failed processing Ready", self.node_id)

    def _fail(self, exc: BaseException) -> None:
        """Stop using this node's state at once and report why, once."""
        self._failed = True
        self._dirty = False
        self.on_fatal(exc)

    def _on_tick(self, msg: Tick) -> None:
        self._check_stall(msg.now)
        self._last_tick_at = msg.now
        self.node.tick()
        self._expire_waits(msg.now)
        self._retry_proposals(msg.now)
        self._maybe_sync(msg.now)
        self._schedule_flush()

    def _on_peer_message(self, msg: PeerRaftMessage) -> None:
        m = msg.message
        if m.to != self.node_id:
            return
        if m.type == MessageType.READ_INDEX:
            self._check_stall(time.monotonic())  # a follower's read, maybe answered by lease
        try:
            self.node.step(m)
        except StateLost as exc:
            self._fail(exc)
            return
        sent = self._snapshots_out.get(m.frm)
        if sent is not None and m.type == MessageType.APP_RESP and not m.reject and m.index >= sent:
            # the follower answered from the snapshot's index on: it has installed it
            del self._snapshots_out[m.frm]
            self.node.report_snapshot(m.frm, True)
        self._schedule_flush()

    def _on_peer_unreachable(self, msg: PeerUnreachable) -> None:
        """The transport could not deliver to ``msg.peer``: stop streaming to it, and if a
        snapshot was among the lost messages, let the core send it again when it can."""
        if msg.snapshot_lost:
            self._snapshots_out.pop(msg.peer, None)
            self.node.report_snapshot(msg.peer, False)
        self.node.report_unreachable(msg.peer)
        self._schedule_flush()

    def _on_propose(self, msg: Propose) -> None:
        if msg.leader_only and self._role != Role.LEADER:
            return  # whoever leads now does this duty
        self._proposals.append(self.proposals.add(msg, time.monotonic()))
        self._schedule_flush()

    def _on_member_request(self, msg: MemberRequest) -> None:
        self.desk.on_request(msg, self._leader_hint())
        self._schedule_flush()

    def _on_read(self, msg: LinearizableRead) -> None:
        if msg.leader_only and self._role != Role.LEADER:
            self.outbox.error(msg.query.reply, NotLeader(
                f"node {self.node_id} is not the leader; {msg.query.op} is served by the leader",
                leader=self._leader_hint()))
            return
        self._reads.append(msg.query)
        self._schedule_flush()

    # ---- the Ready loop ---------------------------------------------------------------

    def _flush(self) -> None:
        self._submit_proposals()
        self._submit_reads()
        while self.node.has_ready():
            self._handle_ready(self.node.ready())

    def _submit_proposals(self) -> None:
        if self._retries:
            retries, self._retries = self._retries, []
            try:
                self.node.propose_many(retries)
            except ProposalDropped:
                pass  # proposed again at their next retry
        if self._proposals:
            batch, self._proposals = self._proposals, []
            try:
                self.node.propose_many([data for _, data in batch])
            except ProposalDropped:
                self.metrics.proposals_dropped.value += len(batch)
                err = NoLeader("no leader to accept the write", leader=self._leader_hint())
                for waiter in self.proposals.refused(tag for tag, _ in batch):
                    self.outbox.error(waiter.reply, err)
        self.proposals_waiting.value = len(self.proposals)

    def _retry_proposals(self, now: float) -> None:
        retries, expired = self.proposals.due(now)
        self._retries.extend(retries)
        self.metrics.proposals_timed_out.value += len(expired)
        for waiter in expired:
            self.outbox.error(waiter.reply, Timeout(f"{waiter.op} did not complete in time"))

    def _next_read_ctx(self) -> bytes:
        return self._read_prefix + next(self._read_ids).to_bytes(8, "big")

    def _check_stall(self, now: float) -> None:
        """Ticks stopped for a while (this process was paused, or starved): the tick count the
        read lease is measured in fell behind real time, so the lease is given up until a
        majority confirms this leader again (the ticker does not make up for missed ticks)."""
        if self._last_tick_at and now - self._last_tick_at > STALL_TICKS * self.tick_interval:
            self.node.suspend_lease()

    def _submit_reads(self) -> None:
        if not self._reads:
            return
        self._check_stall(time.monotonic())
        if self._leader == 0:
            # The core drops a ReadIndex it cannot place: answer now, not at the deadline,
            # so the client hears NoLeader (and moves on) before its own deadline passes.
            self._refuse_reads(self._reads)
            self._reads = []
            return
        ctx = self._next_read_ctx()
        self._waiting_reads[ctx] = _WaitingReads(self._reads, time.monotonic() + self.request_timeout)
        self._reads = []
        self.node.read_index(ctx)

    def _handle_ready(self, rd: Ready) -> None:
        # 0. entries committed by this Ready alone (none new here) are durable already: the
        #    Store starts on them now, in parallel with the rest (a leader's commit Ready)
        apply_first = bool(rd.committed_entries) and not rd.entries and rd.snapshot is None
        if apply_first:
            self._apply(rd)
        #    a leader's appends leave before its fsync, so that overlaps the followers' (the
        #    core counts the leader's own copy only after advance)
        if rd.send_before_persist:
            self._send(rd)
        # 1. persist (one fsync for hard state + entries), then mirror into the core's storage
        if rd.snapshot is not None:
            self.snapshots.save(rd.snapshot)
            self.wal.save_snapshot_meta(rd.snapshot.meta)
            self.storage.apply_snapshot(rd.snapshot)
        if rd.hard_state is not None or rd.entries:
            took = self.wal.save(rd.hard_state, rd.entries, sync=self._must_sync(rd))
            if took is not None:
                self.metrics.fsync_seconds.observe(took)
                self.metrics.entries_per_fsync.observe(len(rd.entries))
        if rd.entries:
            self.storage.append(rd.entries)
        if rd.hard_state is not None:
            self.storage.set_hard_state(rd.hard_state)
        # 2. send
        if not rd.send_before_persist:
            self._send(rd)
        # 3. apply
        assert self.store is not None
        if rd.snapshot is not None:
            self.store.tell(RestoreSnapshot(rd.snapshot))
        if rd.committed_entries and not apply_first:
            self._apply(rd)
        for rs in rd.read_states:
            ctx = bytes(rs.context)
            if ctx == self._sync_ctx:
                self._sync_ctx, self._sync_index = None, rs.index
                continue
            waiting = self._waiting_reads.pop(ctx, None)
            if waiting is not None:
                self.store.tell(ServeReads(rs.index, tuple(waiting.queries)))
        if rd.hard_state is not None and rd.hard_state.term != self._term:
            self._term = rd.hard_state.term
            self._publish_view()
        if rd.soft_state is not None:
            self._on_soft_state(rd.soft_state.leader, rd.soft_state.role)
        self.node.advance(rd)
        self.desk.sync()
        self._check_caught_up()
        if not self._caught_up:
            self._maybe_sync(time.monotonic())  # a leader just learnt of is asked now, not at a tick

    def _apply(self, rd: Ready) -> None:
        assert self.store is not None
        waiters = self.proposals.committed(rd.committed_entries)
        self.store.tell(ApplyEntries(tuple(rd.committed_entries), waiters))
        self.desk.on_committed(rd.committed_entries)
        self.metrics.proposals_committed.value += sum(1 for e in rd.committed_entries if e.data)

    def _send(self, rd: Ready) -> None:
        for m in rd.messages:
            if m.type == MessageType.SNAP and m.snapshot is not None:
                self._snapshots_out[m.to] = m.snapshot.meta.index
            elif m.type == MessageType.APP:
                self.metrics.entries_per_append.observe(len(m.entries))
            self.send_to_peer(m.to, peer_protocol.encode_raft(m))

    # ---- catching up once after start (the local-read rule) --------------------------------

    def _maybe_sync(self, now: float) -> None:
        """Until caught up, keep one ReadIndex of our own outstanding while a leader is known
        (a read is dropped silently when the leader goes away, so ask again now and then)."""
        if self._caught_up or self._sync_index is not None or self._leader == 0:
            return
        if self._sync_ctx is not None and now < self._sync_retry_at:
            return
        self._sync_ctx, self._sync_retry_at = self._next_read_ctx(), now + SYNC_RETRY
        self.node.read_index(self._sync_ctx)

    def _check_caught_up(self) -> None:
        if self._sync_index is not None and self.node.status().applied >= self._sync_index:
            assert self.store is not None
            self._sync_index = None
            self._caught_up = True
            self.store.tell(CaughtUp())  # after the ApplyEntries it needs, from this same thread
            self.log.info("node=%s caught up with the leader: serving local reads", self.node_id)

    def _must_sync(self, rd: Ready) -> bool:
        """An fsync is needed for new entries or a new term or vote; a commit index alone
        can be lost in a crash (the leader tells it again), so it is written unsynced."""
        if rd.entries or rd.hard_state is None:
            return True
        prev = self.storage.hard_state  # what was persisted before this Ready
        return (prev.term, prev.vote) != (rd.hard_state.term, rd.hard_state.vote)

    def _on_soft_state(self, leader: int, role: Role) -> None:
        term = self.node.status().term
        changed = leader != self._leader or role != self._role
        if leader and leader != self._leader:
            self.metrics.leader_changes.value += 1
            self._sync_ctx = None  # a read the old leader held is lost: ask the new one now
        if role != Role.LEADER:
            self.proposals.not_leading()
        self._leader, self._role, self._term = leader, role, term
        self._publish_view()  # first, so that the line below carries the new role
        if changed:
            self.log.info("node=%s term=%s role=%s leader=%s", self.node_id, term, role.name, leader)
        assert self.sessions is not None
        leadership = LeadershipChanged(leader, term, role == Role.LEADER)
        self.sessions.tell(leadership)
        if self.locks is not None:
            self.locks.tell(leadership)

    def _publish_view(self) -> None:
        self.view.publish(self._term, self._role.name.lower(), self._leader)

    # ---- snapshots and compaction ----------------------------------------------------------

    def _on_snapshot_taken(self, msg: SnapshotTaken) -> None:
        if msg.index <= self.storage.snapshot().meta.index:
            return
        # the configuration at the snapshot's index: a later change may not be committed
        snapshot = self.storage.create_snapshot(msg.index, self.node.conf_state_at(msg.index), msg.data)
        self.snapshots.save(snapshot)
        self.wal.save_snapshot_meta(snapshot.meta)
        compact_to = compaction_point(self.storage, msg.index, self.keep_entries, self.keep_bytes)
        if compact_to > self.storage.first_index():
            self.storage.compact(compact_to)
        self.wal.release_before(msg.index)
        self.metrics.snapshots_taken.value += 1
        self.log.info("node=%s snapshot index=%s compacted_to=%s", self.node_id, msg.index, compact_to)

    # ---- timeouts ---------------------------------------------------------------------------------

    def _expire_waits(self, now: float) -> None:
        self.desk.expire(now)
        if self._leader == 0 and self._waiting_reads:
            # The leader they went to is gone (or we stepped down): they will not be answered.
            waiting, self._waiting_reads = self._waiting_reads, {}
            self._refuse_reads([q for w in waiting.values() for q in w.queries])
        for ctx in [c for c, w in self._waiting_reads.items() if w.deadline <= now]:
            expired = self._waiting_reads.pop(ctx)
            err = self._unavailable("read")
            for q in expired.queries:
                self.outbox.error(q.reply, err)
        for round_id in [r for r, s in self._status_rounds.items() if s.deadline <= now]:
            self._finish_status_round(round_id)

    def _refuse_reads(self, queries: list[Query]) -> None:
        err = NoLeader("no leader to confirm the read")
        for q in queries:
            self.outbox.error(q.reply, err)

    def _unavailable(self, what: str) -> NoLeader | Timeout:
        if self._leader == 0:
            return NoLeader(f"no leader to confirm the {what}")
        return Timeout(f"{what} not confirmed in time", leader=self._leader_hint())

    def _leader_hint(self) -> str | None:
        member = self.members.get(self._leader)
        return member["client_address"] if member else None

    # ---- status --------------------------------------------------------------------------------

    def own_status(self) -> dict[str, Any]:
        s = self.node.status()
        return {
            "id": self.node_id,
            "role": s.role.name.lower(),
            "term": s.term,
            "leader": s.leader,
            "commit": s.commit,
            "applied": s.applied,
            "last_index": s.last_index,
            "reachable": True,
            **self.members.get(self.node_id, {}),
        }

    def _on_own_status_ask(self, msg: OwnStatusAsk) -> None:
        msg.answer.set_result(self.own_status())

    def _on_status_request(self, msg: StatusRequest) -> None:
        if not msg.gather:
            self._reply_leader(msg.reply)
            return
        round_id = next(self._round_ids)
        self._status_rounds[round_id] = _StatusRound(
            msg.reply, time.monotonic() + 0.5, {self.node_id: self.own_status()}
        )
        for peer in self.members:
            if peer != self.node_id:
                body = [self.node_id, round_id]
                self.send_to_peer(peer, peer_protocol.encode_peer(peer_protocol.STATUS_REQ, body))
        if len(self.members) == 1:
            self._finish_status_round(round_id)

    def _reply_leader(self, reply: ReplyTo) -> None:
        s = self.node.status()
        if s.leader == 0:
            self.outbox.error(reply, NoLeader("the cluster has no leader right now"))
            return
        self.outbox.ok(reply, {"leader_id": s.leader, "term": s.term, **self.members.get(s.leader, {})})

    def _on_peer_status_request(self, msg: PeerStatusRequest) -> None:
        body = [msg.round_id, self.own_status()]
        self.send_to_peer(msg.frm, peer_protocol.encode_peer(peer_protocol.STATUS_RESP, body))

    def _on_peer_status(self, msg: PeerStatus) -> None:
        round_ = self._status_rounds.get(msg.round_id)
        if round_ is None:
            return
        round_.answers[int(msg.status["id"])] = msg.status
        if len(round_.answers) == len(self.members):
            self._finish_status_round(msg.round_id)

    def _finish_status_round(self, round_id: int) -> None:
        round_ = self._status_rounds.pop(round_id)
        nodes = []
        for node_id in sorted(self.members):
            nodes.append(round_.answers.get(node_id) or {"id": node_id, "reachable": False, **self.members[node_id]})
        s = self.node.status()
        self.outbox.ok(round_.reply, {"leader": s.leader, "term": s.term, "nodes": with_lag(nodes, s.leader)})
