"""The Store actor: the replicated state machine of this node.

It applies committed entries in log order (every node does, so every node holds
the same tree), answers the client whose proposal this node made, serves reads
at the right index, registers watches in the same order as the events it
publishes (so a watch set by a read misses nothing after that read), and hands
a snapshot to RaftNode once ``snapshot_entries`` entries or ``snapshot_bytes`` bytes of
entry data were applied since the last one, whichever comes first: the log RaftNode holds
in memory (and replays after a restart) is then bounded in bytes, even with large writes.

It also owns the auth table (users, roles, grants: part of the replicated state) and
publishes an immutable copy of it through ``publish_auth`` whenever it changes, before
answering the change's client: the gateway checks requests against that copy without
ever asking this actor.

And it takes backups: ``snapshot.begin`` arrives here after a ReadIndex on the leader, and
the state at that point is held in ``exports`` for the client to read in chunks.

Lock requests that wait are answered here too (``lock_waits``): an apply that hands a lock
to a waiting entry grants its request on this thread, as it answers a write, and the lock
clock's tick (``CheckLocks``) times out the others, proposing their entries' removal. Only a
lock-delay starting or ending concerns the LockManager (``LocksChanged``).

In a node it serves the client socket between its messages (``client_io``, hosted by
``SocketHost`` as RaftNode hosts the peer sockets): every request enters on this
thread, so a local read is answered, and the answer to a write applied here leaves,
with no thread hand-off. That took a hop off every read and write (bench/RESULTS.md).
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import Any, Callable

import pykka

from skylock.actors.exports import SnapshotExports
from skylock.actors.gauge import Gauge
from skylock.actors.lock_waits import LockWaits, acquire_waits, grant
from skylock.actors.node_metrics import NodeMetrics
from skylock.actors.messages import (
    AddWatch,
    ApplyEntries,
    CaughtUp,
    CheckLocks,
    Heartbeat,
    HistoryReset,
    LinearizableRead,
    LocalRead,
    LockChange,
    LocksChanged,
    Propose,
    PublishEvents,
    Query,
    RestoreSnapshot,
    ServeReads,
    SessionsChanged,
    SnapshotTaken,
    TouchesConfirmed,
    Waiter,
    WaitForLock,
)
from skylock.actors.outbox import Outbox
from skylock.actors.socket_inbox import SocketHost
from skylock.errors import BadRequest, NoLeader, SessionExpired, SkyLockError, Timeout
from skylock.net.io_loop import IOLoop
from skylock.raft import EntryType
from skylock.state import EventType, StateMachine, commands, validate_path
from skylock.state.applied_tags import AppliedTags
from skylock.state.auth import AuthView
from skylock.state.envelope import decode_entry, decode_snapshot, encode_snapshot
from skylock.state.locks import DELAY_NODE, LOCKS_ROOT, changed_by

#: Local reads a node answers only once it has caught up with a leader since it started
#: (a watch registers where the node is and says at which zxid, so it needs no leader).
NEEDS_CATCH_UP = frozenset({"get", "exists", "children", "lock.info", "session.list"})


class Store(SocketHost):
    def __init__(
        self,
        node_id: int,
        machine: StateMachine,
        applied_index: int,
        outbox: Outbox,
        snapshot_entries: int,
        snapshot_bytes: int,
        session_count: Gauge | None = None,
        publish_auth: Callable[[AuthView], None] | None = None,
        metrics: NodeMetrics | None = None,
        client_io: IOLoop[Any] | None = None,
    ) -> None:
        """``metrics``: the node's figures; this actor writes the tree's tallies and the lock counts.
        ``client_io``: the client server's loop, served on this actor's thread (``SocketHost``)."""
        super().__init__(node_id, client_io)
        self.metrics = metrics or NodeMetrics(node_id)
        #: each lock's queue length (holder included) as last reported, for the lock counts
        self._lock_queues: dict[str, int] = {}
        #: this node's lock requests that wait (``skylock/actors/lock_waits.py``): answered
        #: here, on the thread of the apply that grants them
        self.lock_waits = LockWaits()
        self.machine = machine
        self.applied_index = applied_index
        #: the term of the entry at applied_index (a backup's Raft snapshot needs it)
        self.applied_term = 0
        self.exports = SnapshotExports()
        self.outbox = outbox
        self.snapshot_entries = snapshot_entries
        self.snapshot_bytes = snapshot_bytes
        #: open sessions, published for the gateway's limit
        self.session_count = session_count if session_count is not None else Gauge()
        self.publish_auth = publish_auth or (lambda view: None)
        self._last_snapshot_index = applied_index
        #: entry data bytes applied since the last snapshot
        self._bytes_since_snapshot = 0
        self.applied_tags = AppliedTags()
        self._parked: list[tuple[int, int, Query]] = []  # heap of (index, seq, query)
        self._park_seq = itertools.count()
        self._watch_ids = itertools.count(1)
        self._caught_up = False
        #: an acquire applied with its timeout already passed: check the waits after this apply
        self._lock_waits_due = False
        self.raft: pykka.ActorRef[Any] | None = None
        self.watches: pykka.ActorRef[Any] | None = None
        self.sessions: pykka.ActorRef[Any] | None = None
        self.locks: pykka.ActorRef[Any] | None = None
        self._reads = self._read_table()
        self.handlers = {
            ApplyEntries: self._on_apply,
            RestoreSnapshot: self._on_restore,
            ServeReads: self._on_serve_reads,
            LocalRead: self._on_local_read,
            CaughtUp: self._on_caught_up,
            CheckLocks: self._on_check_locks,
        }

    def connect(
        self, raft: pykka.ActorRef[Any], watches: pykka.ActorRef[Any], sessions: pykka.ActorRef[Any],
        locks: pykka.ActorRef[Any],
    ) -> None:
        self.raft, self.watches, self.sessions, self.locks = raft, watches, sessions, locks
        sessions.tell(self._all_sessions())
        self.session_count.value = self.machine.session_count()
        self.publish_auth(self.machine.auth_view())

    # ---- applying the log ----------------------------------------------------------------

    def _on_apply(self, msg: ApplyEntries) -> None:
        events: list[Any] = []
        opened: dict[str, int] = {}
        public: dict[str, str] = {}
        closed: list[str] = []
        for entry in msg.entries:
            waiter = msg.waiters.get(entry.index)
            if entry.index <= self.applied_index:
                self._unknown_result(waiter, "it is inside the snapshot this node installed")
                continue
            self.applied_index, self.applied_term = entry.index, entry.term
            self._bytes_since_snapshot += len(entry.data)
            if entry.type != EntryType.NORMAL:
                continue
            envelope = decode_entry(entry.data)
            if envelope is None:
                continue
            origin, tag, command = envelope
            if tag and not self.applied_tags.first_time(origin, tag):
                # the same proposal sent again: applied once already (its first copy may have
                # reached this node inside a snapshot, with its waiter still waiting)
                self._unknown_result(waiter, "an earlier copy of it applied")
                continue
            applied = self.machine.apply(entry.index, command)
            if applied.error is None and command.get("op") in commands.AUTH_OPS:
                self.publish_auth(self.machine.auth_view())  # before its client hears "done"
            events.extend(applied.events)
            if applied.error is None and applied.result and command.get("op") == "session.open":
                opened[applied.result["session_id"]] = int(applied.result["ttl_ms"])
                public[applied.result["session_id"]] = applied.result["public_id"]
            for ev in applied.events:
                if ev.type == EventType.SESSION_CLOSED and ev.session_id:
                    closed.append(ev.session_id)  # a public id: the SessionManager maps it back
            if waiter is not None:
                self._answer(waiter, applied, entry.index)
        assert self.watches is not None and self.sessions is not None
        if events:
            self.watches.tell(PublishEvents(tuple(events)))
        if opened or closed:
            self.sessions.tell(SessionsChanged(opened=opened, closed=tuple(closed), public=public))
            self.session_count.value = self.machine.session_count()
        self._report_locks(changed_by(events))
        if self._lock_waits_due:
            self._time_out_lock_waits(time.monotonic())
        self._publish_tallies()
        self._serve_parked()
        self._maybe_snapshot()
        if self.exports:
            self.exports.sweep(time.monotonic())

    def _answer(self, waiter: Waiter, applied: Any, zxid: int) -> None:
        """A write's answer says at which zxid it applied, so that its client's local reads
        never go back past it (``min_zxid``)."""
        if waiter.lock_request is not None and applied.error is None:
            self._answer_acquire(waiter.lock_request, applied.result, zxid)
        elif waiter.on_result is not None:
            waiter.on_result(applied.result, applied.error)
        elif applied.error is not None:
            self.outbox.error(waiter.reply, applied.error)
        else:
            self.outbox.ok(waiter.reply, applied.result or {}, zxid=zxid)

    def _unknown_result(self, waiter: Waiter | None, why: str) -> None:
        """The write applied, but not here and now: its result is not known to this node."""
        if waiter is None:
            return
        err = Timeout(f"{waiter.op} applied, but its result is unknown here: {why}")
        if waiter.on_result is not None:
            waiter.on_result(None, err)
        else:
            self.outbox.error(waiter.reply, err)

    def _maybe_snapshot(self) -> None:
        if (self.applied_index - self._last_snapshot_index < self.snapshot_entries
                and self._bytes_since_snapshot < self.snapshot_bytes):
            return
        self._last_snapshot_index = self.applied_index
        self._bytes_since_snapshot = 0
        assert self.raft is not None
        data = encode_snapshot(self.machine.snapshot(), self.applied_tags)
        self.raft.tell(SnapshotTaken(self.applied_index, data))

    def _on_restore(self, msg: RestoreSnapshot) -> None:
        meta = msg.snapshot.meta
        if meta.index <= self.applied_index:
            return
        machine_snapshot, self.applied_tags = decode_snapshot(msg.snapshot.data)
        self.machine.restore(machine_snapshot)
        self.applied_index = self._last_snapshot_index = meta.index
        self.applied_term = meta.term
        self._bytes_since_snapshot = 0
        self.log.info("node=%s restored snapshot index=%s", self.node_id, meta.index)
        assert self.watches is not None and self.sessions is not None
        self.watches.tell(HistoryReset(meta.index))
        self.sessions.tell(self._all_sessions())
        self.session_count.value = self.machine.session_count()
        self.publish_auth(self.machine.auth_view())
        for name in list(self._lock_queues):  # locks the snapshot no longer has
            self._count_lock_queue(name, 0)
        names = set(self.machine.children(LOCKS_ROOT)[0]) if self.machine.exists(LOCKS_ROOT) else set()
        names.update(self.lock_waits.names())  # a lock the snapshot no longer has ends its waits
        self._report_locks({name: set() for name in sorted(names)}, restored=True)
        self._publish_tallies()
        self._serve_parked()

    def _answer_acquire(self, request: WaitForLock, result: dict[str, Any], zxid: int) -> None:
        """An applied acquire holds the lock (granted now) or waits here until its lock's queue
        changes or its timeout passes (its first check is at the end of this apply: it may be
        a non-blocking acquire, whose timeout has passed already)."""
        if not acquire_waits(result, None):
            self.outbox.ok(request.reply, grant(request, str(result["lock_id"]), int(result["token"])), zxid=zxid)
            return
        wait = self.lock_waits.add(request, result)
        if wait.deadline <= time.monotonic():
            self._lock_waits_due = True

    def _on_check_locks(self, msg: CheckLocks) -> None:
        self._time_out_lock_waits(msg.now)

    def _time_out_lock_waits(self, now: float) -> None:
        """Answer ``Timeout`` to the waits whose time is up, and take their entries out of the
        queue through the log (RaftNode proposes each removal until it commits)."""
        self._lock_waits_due = False
        expired, cancel = self.lock_waits.expire(now)
        for wait in expired:
            request = wait.request
            self.outbox.error(request.reply, Timeout(
                f"lock {request.name} not acquired within {request.timeout_ms} ms", name=request.name))
        assert self.raft is not None
        for wait in cancel:
            self.raft.tell(Propose(wait.cancel()))

    def _report_locks(self, exits: dict[str, set[str]], restored: bool = False) -> None:
        """For each lock in ``exits`` (name -> the entries that left its queue): count it, answer
        the waits here that its change settles, and tell the LockManager if a lock-delay started
        or ended: O(1) per lock however long its queue, except after a ``restored`` snapshot,
        whose vanished entries no event names (the whole queue is looked at instead)."""
        delays = {}
        for name, left in exits.items():
            holder, delay, queued = self.machine.lock_standing(name)
            self._count_lock_queue(name, queued)
            if not (restored or name in self.lock_waits or delay is not None or DELAY_NODE in left):
                continue  # an uncontended acquire or release: nobody to answer or to tell
            queue = frozenset(self.machine.lock_entries(name)) if restored else None
            change = LockChange(holder, delay, queued, frozenset(left), queue)
            self._settle_lock_waits(name, change)
            if restored or delay is not None or DELAY_NODE in left:
                delays[name] = change
        if delays:
            assert self.locks is not None
            self.locks.tell(LocksChanged(delays))

    def _settle_lock_waits(self, name: str, change: LockChange) -> None:
        settled = self.lock_waits.settle(name, change)
        for wait in settled.granted:
            self.outbox.ok(wait.request.reply, wait.grant(), zxid=self.applied_index)
        for wait in settled.gone:
            self.outbox.error(wait.request.reply, SessionExpired(
                f"the request for lock {name} was removed (its session ended)",
                session_id=wait.request.session_id))

    def _count_lock_queue(self, name: str, queued: int) -> None:
        """Move the lock counts by the change of one lock's queue (its holder included)."""
        before = self._lock_queues.pop(name, 0)
        if queued:
            self._lock_queues[name] = queued
        m = self.metrics
        m.locks_held.value += (queued > 0) - (before > 0)
        m.locks_waiting.value += max(queued - 1, 0) - max(before - 1, 0)

    def _publish_tallies(self) -> None:
        """The tree's sizes for /metrics, each O(1) (the tree keeps them)."""
        m = self.metrics
        tallies = self.machine.tallies()
        m.znodes.value, m.znode_bytes.value, m.ephemerals.value = (
            tallies["znodes"], tallies["znode_bytes"], tallies["ephemerals"])

    def _all_sessions(self) -> SessionsChanged:
        table = self.machine.sessions()
        return SessionsChanged(opened={s["session_id"]: int(s["ttl_ms"]) for s in table}, reset=True,
                               public={s["session_id"]: s["public_id"] for s in table})

    # ---- reads -----------------------------------------------------------------------------

    def _on_caught_up(self, msg: CaughtUp) -> None:
        self._caught_up = True

    def _on_local_read(self, msg: LocalRead) -> None:
        """Only what reads the state waits for it; a watch needs a starting point, not the
        state, so it registers at once (``_add_watch``), with or without a leader."""
        if msg.query.op in NEEDS_CATCH_UP:
            if not self._caught_up:
                self.outbox.error(msg.query.reply, NoLeader(
                    f"node {self.node_id} has not caught up with a leader since it started"))
                return
            if msg.query.args.get("min_zxid", 0) > self.applied_index:
                # the client has seen a newer state than this node's: it must not go back in
                # time, and a linearizable read is served at or after every zxid it can have seen
                assert self.raft is not None
                self.raft.tell(LinearizableRead(msg.query))
                return
        self._serve(msg.query)

    def _on_serve_reads(self, msg: ServeReads) -> None:
        if msg.index <= self.applied_index:
            for q in msg.queries:
                self._serve(q)
            return
        for q in msg.queries:
            heapq.heappush(self._parked, (msg.index, next(self._park_seq), q))

    def _serve_parked(self) -> None:
        while self._parked and self._parked[0][0] <= self.applied_index:
            self._serve(heapq.heappop(self._parked)[2])

    def _serve(self, query: Query) -> None:
        try:
            result = self._read(query)
        except SkyLockError as err:
            self.outbox.error(query.reply, err)
            return
        if result is not None:
            self.outbox.ok(query.reply, result)

    def _read(self, q: Query) -> dict[str, Any] | None:
        """Answer one read; ``None`` when another actor sends the reply."""
        serve = self._reads.get(q.op)
        if serve is None:
            raise BadRequest(f"op {q.op!r} is not a read")
        return serve(q.args, q)

    def _read_table(self) -> dict[str, Callable[[dict[str, Any], Query], dict[str, Any] | None]]:
        """What this actor serves: the client ops ``codec.OPS`` routes here (``read``, ``store``,
        ``leader_read``) and the SessionManager's own queries."""
        m = self.machine
        return {
            "get": self._get,
            "exists": self._exists,
            "children": self._children,
            "watch.add": lambda a, q: self._add_watch(q, a["path"], a["kind"], from_zxid=a.get("from_zxid")),
            "lock.info": lambda a, q: m.lock_info(a["name"]),
            "session.list": lambda a, q: {"sessions": m.session_list(), "zxid": self.applied_index},
            "debug.state_hash": lambda a, q: {"applied": self.applied_index, "hash": m.state_hash()},
            "snapshot.begin": lambda a, q: self.exports.begin(m.snapshot(), index=self.applied_index,
                                                             term=self.applied_term, now=time.monotonic()),
            "snapshot.chunk": lambda a, q: self.exports.chunk(a["export_id"], a["offset"], now=time.monotonic()),
            "session.check": lambda a, q: self._check_session(a["session_id"]),
            "session.touches": self._touches_confirmed,
        }

    def _get(self, args: dict[str, Any], q: Query) -> dict[str, Any] | None:
        data, stat = self.machine.get(args["path"])
        result: dict[str, Any] = {"data": data, "stat": stat.to_wire(), "zxid": self.applied_index}
        return self._or_watched(q, result, "data")

    def _exists(self, args: dict[str, Any], q: Query) -> dict[str, Any] | None:
        stat = self.machine.exists(args["path"])
        result = {"stat": stat.to_wire() if stat else None, "zxid": self.applied_index}
        return self._or_watched(q, result, "exists")

    def _children(self, args: dict[str, Any], q: Query) -> dict[str, Any] | None:
        names, stat = self.machine.children(args["path"])
        result = {"children": names, "zxid": self.applied_index}
        if args.get("stat"):
            result["stat"] = stat.to_wire()
        return self._or_watched(q, result, "children")

    def _touches_confirmed(self, args: dict[str, Any], q: Query) -> None:
        """A follower's heartbeat batch, at a confirmed point."""
        assert self.sessions is not None
        self.sessions.tell(TouchesConfirmed(int(args["frm"]), int(args["batch_id"])))

    def _check_session(self, session_id: str) -> dict[str, Any]:
        session = self.machine.session(session_id)
        if session is None:
            raise SessionExpired(f"session {session_id} is not open", session_id=session_id)
        assert self.sessions is not None
        self.sessions.tell(Heartbeat(session_id, None))
        return {"session_id": session_id, "ttl_ms": session["ttl_ms"]}

    def _or_watched(self, q: Query, result: dict[str, Any], kind: str) -> dict[str, Any] | None:
        """A read's answer; None for a read that sets a watch: the WatchHub answers that one
        once the watch is accepted (a watch over its limits makes the read fail, rather than
        look set)."""
        if not q.args.get("watch"):
            return result
        self._add_watch(q, q.args["path"], kind, result=result)
        return None

    def _add_watch(
        self, q: Query, path: str, kind: str, *, from_zxid: int | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        """Tell the WatchHub, which answers the client (``result`` with the watch id, or
        just the watch id)."""
        validate_path(path)
        watch_id = next(self._watch_ids)
        if result is not None:
            result = {**result, "watch_id": watch_id}
        assert self.watches is not None
        self.watches.tell(
            AddWatch(
                watch_id=watch_id,
                conn_id=q.reply.conn_id,
                path=path,
                kind=kind,
                # the hub knows the session by the public id its session_closed event carries
                session_id=self.machine.public_id(q.args.get("session_id") or ""),
                from_zxid=from_zxid,
                # never before a state the client has seen (on a node still behind it)
                current_zxid=max(self.applied_index, q.args.get("min_zxid") or 0),
                reply=q.reply,
                result=result,
            )
        )
