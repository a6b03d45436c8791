"""One SkyLock node: recover from disk, start the actors and the sockets, tick.

``Node(config).start()`` is everything ``skylock serve`` does. The order matters:
durable state is recovered first (snapshot, then the WAL after it), the actors
are started and wired, and only then do the sockets open, so no request or peer
message reaches an actor that is not ready.

A node that finds it lost log entries it had acknowledged (``StateLost``: its data
directory was emptied, truncated or restored from an old copy) logs that once, stops,
and ``stop()`` raises ``NodeFailed``, which ends the process with a non-zero status.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from skylock.actors.access import Access
from skylock.actors.gateway import Gateway
from skylock.actors.gauge import Gauge
from skylock.actors.node_metrics import NodeMetrics
from skylock.actors.messages import (
    CheckLocks,
    CheckSessions,
    ConnectionOverflowed,
    ConnectionsSeen,
    PeerRaftMessage,
    PeerStatus,
    PeerStatusRequest,
    PeerTouches,
    PeerTouchesAcked,
    PeerUnreachable,
    RestoreSnapshot,
    SweepWatches,
    Tick,
)
from skylock.actors.lock_manager import LockManager
from skylock.actors import peer_protocol
from skylock.actors.outbox import Outbox
from skylock.actors.raft_node import RaftNode
from skylock.actors.raft_view import RaftViewBoard
from skylock.actors.session_manager import SessionManager
from skylock.actors.store import Store
from skylock.actors.watch_hub import WatchHub, WatchLimits
from skylock.config import NodeConfig
from skylock.http.gateway import HttpGateway, server_tls
from skylock.http.probe import NodeProbe
from skylock.net import peer_codec
from skylock.net.address import local_address, split_address
from skylock.net.client_server import ClientServer, frame_limit
from skylock.net.curve import start_authenticator
from skylock.net.peer_transport import PeerTransport
from skylock.raft import Config as RaftConfig
from skylock.actors.members import bootstrap_conf
from skylock.raft import ConfState, HardState, MemoryStorage, RawNode, Snapshot, SnapshotMeta, StateLost
from skylock.security import node_curve
from skylock.state import StateMachine
from skylock.storage import WAL, SnapshotStore, private_dir

log = logging.getLogger("skylock.node")

#: The exit status of a node process that stopped because it cannot go on safely.
EXIT_FAILED = 2


class NodeFailed(SystemExit):
    """Raised by ``Node.stop`` (or ``start``) when the node stopped because it cannot go on
    safely; the reason was logged once. Uncaught, it ends the process with status 2 and
    no traceback (it is a ``SystemExit``), in ``skylock serve`` and in start_cluster's
    node processes alike."""

    def __init__(self, reason: BaseException) -> None:
        super().__init__(EXIT_FAILED)
        self.reason = reason


def lost_state_message(node_id: int, data_dir: Path, exc: StateLost) -> str:
    """The one log line a node that lost acknowledged state leaves behind: what, where, what to do."""
    return (
        f"node={node_id} STOPPING: this node lost Raft state it had acknowledged ({exc}). "
        f"Its data directory {data_dir.absolute()} is empty, truncated or older than what this "
        "node told the cluster, so it may have forgotten votes and entries the others counted on, "
        "and must not rejoin with it. To recover: restore that directory from a backup of this "
        f"node, or replace member {node_id} (remove it from the cluster and add a new member with "
        "an empty data directory). Check that --config / storage.data_dir / --data-dir point "
        "where this node's data really is."
    )
#: How often the WatchHub looks for connections silent past ``server.watch_idle_timeout``.
WATCH_SWEEP_INTERVAL = 1.0


@dataclass
class RecoveredRaft:
    raw_node: RawNode
    storage: MemoryStorage
    conf: ConfState
    wal: WAL
    snapshots: SnapshotStore
    snapshot: Snapshot | None


def file_members(cfg: NodeConfig) -> dict[int, dict[str, Any]]:
    """The members the config file lists, with their addresses."""
    return {m.id: {"client_address": m.client_address, "peer_address": m.peer_address, "http_port": m.http_port}
            for m in cfg.cluster.members}


def initial_conf(cfg: NodeConfig, wal: WAL, recovered: Any, join: bool) -> ConfState:
    """The configuration the log starts from. A fresh data directory takes it from the
    config file (every member a voter, with its addresses), or none at all with ``join``
    (the node waits for a leader to add it and learns the members from the log), and
    records it in the WAL, so a restart starts from the same one whatever the file says
    by then. A directory from before that record falls back to the file."""
    if recovered.snapshot_meta is not None and recovered.snapshot_meta.index == 0:
        return recovered.snapshot_meta.conf
    fresh = recovered.snapshot_meta is None and not recovered.entries and recovered.hard_state == HardState()
    conf = ConfState() if join else bootstrap_conf(file_members(cfg))
    if fresh:
        wal.save_snapshot_meta(SnapshotMeta(0, 0, conf))
    elif join:
        log.info("node=%s has data already: --join ignored, membership comes from its log", cfg.cluster.node_id)
        conf = bootstrap_conf(file_members(cfg))
    return conf


def recover_raft(cfg: NodeConfig, join: bool = False) -> RecoveredRaft:
    """Rebuild the Raft core from ``data_dir``; a fresh directory bootstraps the cluster
    (or, with ``join``, waits to be added to one)."""
    data_dir = cfg.storage.data_dir
    private_dir(data_dir)  # the WAL holds every session's id: readable by this user only
    snapshots = SnapshotStore(data_dir / "snap")
    snapshot = snapshots.load_newest()
    wal, recovered = WAL.open(data_dir / "wal", segment_size=cfg.storage.segment_size, fsync=cfg.storage.fsync)
    recovered.check_snapshot(snapshot)  # refuses to start if the WAL names a snapshot we lack
    conf = initial_conf(cfg, wal, recovered, join)
    storage = MemoryStorage()
    entries = recovered.entries
    if snapshot is not None:
        storage.apply_snapshot(snapshot)
        conf = snapshot.meta.conf
        # a crash between saving the snapshot file and its WAL record leaves older entries
        entries = [e for e in entries if e.index > snapshot.meta.index]
    else:
        storage.bootstrap(conf)
    if entries:
        storage.append(entries)
    storage.set_hard_state(recovered.hard_state)
    raft_config = RaftConfig(
        id=cfg.cluster.node_id,
        election_tick=cfg.raft.election_tick,
        heartbeat_tick=cfg.raft.heartbeat_tick,
        rng=random.Random(),
        pre_vote=cfg.raft.pre_vote,
        check_quorum=cfg.raft.check_quorum,
        max_election_tick=cfg.raft.election_tick_max,
        max_inflight_msgs=cfg.raft.max_inflight_msgs,
        max_size_per_msg=cfg.raft.max_size_per_msg,
        lease_ticks=cfg.raft.lease_ticks,
        applied=snapshot.meta.index if snapshot is not None else 0,
    )
    log.info(
        "node=%s recovered term=%s commit=%s snapshot=%s entries=%s",
        cfg.cluster.node_id, recovered.hard_state.term, recovered.hard_state.commit,
        snapshot.meta.index if snapshot else 0, len(entries),
    )
    return RecoveredRaft(RawNode(raft_config, storage), storage, conf, wal, snapshots, snapshot)


class Node:
    def __init__(self, cfg: NodeConfig, *, raft_view: RaftViewBoard | None = None, join: bool = False) -> None:
        """``raft_view``: where the RaftNode publishes term, role and leader (the JSON logs read it);
        ``join``: a fresh data directory starts with no configuration of its own and waits for the
        cluster's leader to add it (``skylock member add`` + ``serve --join``)."""
        self.cfg = cfg
        self.raft_view = raft_view if raft_view is not None else RaftViewBoard()
        self.join = join
        self.node_id = cfg.cluster.node_id
        self.request_timeout = cfg.server.request_timeout
        #: why the node stopped on its own (``StateLost``), None while healthy
        self.failure: BaseException | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._context = zmq.Context()
        #: secure mode: this node's CURVE keys and the members' public keys
        self.curve = node_curve(cfg) if cfg.security.secure else None
        self._authenticator: Any = None
        #: RaftNode's proposal table size, for /metrics
        self.proposals_waiting = Gauge()
        self.client_server = ClientServer(cfg.listen_client, self._on_client_frame,
                                          on_overflow=self._on_client_overflow, on_seen=self._on_clients_seen,
                                          context=self._context, max_frame=frame_limit(cfg.server.max_request_size),
                                          max_backlog_bytes=cfg.server.max_backlog_bytes,
                                          max_connections=cfg.server.max_connections,
                                          connection_idle=cfg.server.watch_idle_timeout,
                                          curve=self.curve.keys if self.curve else None, hosted=True)
        self.open_sessions = Gauge()
        #: the figures /metrics reports that no actor is asked for (each has one writer)
        self.metrics = NodeMetrics(self.node_id)
        self.outbox = Outbox(self.client_server.send, self.metrics)
        self._peer_limits = peer_codec.PeerLimits.for_batches_of(cfg.raft.max_size_per_msg)
        self.transport = PeerTransport(
            self.node_id, cfg.listen_peer, cfg.peers, self._on_peer_payload, context=self._context,
            on_undelivered=self._on_peer_undelivered,
            max_message_size=cfg.raft.max_peer_message_size, curve=self.curve, hosted=True,
        )
        self.gateway: Gateway | None = None
        self.http: HttpGateway | None = None

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Raises NodeFailed (after logging why) if the data directory lost acknowledged state."""
        cfg = self.cfg
        try:
            raft = recover_raft(cfg, self.join)
        except StateLost as exc:
            self._fail(exc)
            self._context.term()
            raise NodeFailed(exc) from None
        machine = StateMachine(max_data_size=cfg.server.max_data_size)
        members = file_members(cfg)
        start_index = raft.snapshot.meta.index if raft.snapshot else 0
        self.raft = RaftNode.start(
            self.node_id, raft.raw_node, raft.storage, raft.conf, raft.wal, raft.snapshots,
            self.transport.send, self.outbox, members,
            cfg.storage.keep_entries, cfg.storage.keep_bytes, self.request_timeout, self._on_fatal,
            metrics=self.metrics, proposals_waiting=self.proposals_waiting, peer_io=self.transport.loop,
            view=self.raft_view,
            set_peers=self.transport.set_peers, tick_interval=cfg.raft.tick_interval,
        )
        access = Access(enabled=cfg.auth.enabled, root_token_sha256=cfg.auth.root_token_sha256)
        self.store = Store.start(
            self.node_id, machine, 0, self.outbox, cfg.storage.snapshot_entries,
            cfg.storage.snapshot_bytes, self.open_sessions,
            publish_auth=access.publish, metrics=self.metrics, client_io=self.client_server.loop,
        )
        sv = cfg.server
        limits = WatchLimits(sv.max_watches_per_connection, sv.max_watches, sv.watch_idle_timeout)
        self.watches = WatchHub.start(self.node_id, self.outbox, cfg.storage.watch_history, start_index, limits)
        self.sessions = SessionManager.start(self.node_id, self.outbox, self.transport.send,
                                             cfg.session.check_interval)
        self.locks = LockManager.start(self.node_id)
        self.store.proxy().connect(self.raft, self.watches, self.sessions, self.locks).get()
        if raft.snapshot is not None:
            self.store.tell(RestoreSnapshot(raft.snapshot))
        self.sessions.proxy().connect(self.raft).get()
        self.locks.proxy().connect(self.raft).get()
        self.raft.proxy().connect(self.store, self.sessions, self.locks).get()
        self.gateway = Gateway(
            self.node_id, raft=self.raft, store=self.store, sessions=self.sessions, watches=self.watches,
            outbox=self.outbox,
            max_request_size=cfg.server.max_request_size, max_data_size=cfg.server.max_data_size,
            default_ttl=cfg.session.default_ttl, min_ttl=cfg.session.min_ttl, max_ttl=cfg.session.max_ttl,
            request_timeout=self.request_timeout, access=access,
            max_sessions=sv.max_sessions, max_client_id_size=sv.max_client_id_size,
            open_sessions=self.open_sessions,
        )
        if self.curve is not None:  # before any CURVE socket binds: it vets every handshake
            self._authenticator = start_authenticator(self._context, self.curve.members)
        self.raft.proxy().open_sockets().get()  # the peer transport lives on RaftNode's thread
        self.store.proxy().open_sockets().get()  # the client server lives on the Store's thread
        # the REST API is a client of this node, so it opens after the client server
        listen_host, listen_port = split_address(cfg.listen_http)
        self.http = HttpGateway(self.node_id, local_address(self.client_server.address), listen_port,
                                host=listen_host,
                                probe=NodeProbe(self.raft, self.watches, self.stats, metrics=self.metrics),
                                max_body=2 * cfg.server.max_request_size,
                                ssl_context=server_tls(cfg.security.tls_cert, cfg.security.tls_key)
                                if self.curve else None,
                                server_key=self.curve.keys.public if self.curve else None)
        self.http.start()
        self._ticker = threading.Thread(target=self._tick_loop, name=f"ticker-{self.node_id}", daemon=True)
        self._ticker.start()
        log.info(
            "node=%s serving clients on %s, peers on %s (advertised: clients %s, peers %s)",
            self.node_id, self.client_server.address, self.transport.address,
            cfg.me.client_address, cfg.me.peer_address,
        )

    def stop(self) -> None:
        """Stop everything; raises NodeFailed afterwards if the node stopped on its own."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        if self.http is not None:
            self.http.stop()
        self.client_server.stop()
        self.transport.stop()
        if self._authenticator is not None:
            self._authenticator.stop()
        for ref in (self.locks, self.sessions, self.watches, self.store, self.raft):
            ref.stop(block=True, timeout=5)
        self._context.term()
        log.info("node=%s stopped", self.node_id)
        if self.failure is not None:
            raise NodeFailed(self.failure)

    def _on_fatal(self, exc: BaseException) -> None:
        """From the RaftNode actor: the node cannot go on safely. Log once and stop."""
        self._fail(exc)
        self.request_stop()

    def _fail(self, exc: BaseException) -> None:
        self.failure = exc
        if isinstance(exc, StateLost):
            log.critical(lost_state_message(self.node_id, self.cfg.storage.data_dir, exc))
        else:
            log.critical("node=%s STOPPING: %s", self.node_id, exc)

    def request_stop(self) -> None:
        """Safe from a signal handler: ``wait`` returns, the caller then calls ``stop``."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._stop.wait(timeout)

    # ---- the clock -------------------------------------------------------------------------

    def _tick_loop(self) -> None:
        tick = self.cfg.raft.tick_interval
        check = self.cfg.session.check_interval
        next_tick = next_check = next_sweep = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_tick:
                self.raft.tell(Tick(now))
                next_tick += tick
                if next_tick < now:  # we fell behind (paused): do not burst ticks
                    next_tick = now + tick
            if now >= next_check:
                self.sessions.tell(CheckSessions(now, self.client_server.loop.heard_until(now)))
                self.store.tell(CheckLocks(now))  # lock waits that time out
                self.locks.tell(CheckLocks(now))  # lock-delays that end
                next_check = now + check
            if now >= next_sweep:
                self.watches.tell(SweepWatches())
                next_sweep = now + WATCH_SWEEP_INTERVAL
            self._stop.wait(max(0.0, min(next_tick, next_check, next_sweep) - time.monotonic()))

    # ---- I/O thread callbacks (must be quick: decode and tell) -----------------------------------

    def _on_client_frame(self, conn_id: bytes, frame: bytes) -> None:
        if self.gateway is not None:
            self.gateway.on_frame(conn_id, frame)

    def _on_client_overflow(self, conn_id: bytes) -> None:
        self.watches.tell(ConnectionOverflowed(conn_id))

    def _on_peer_undelivered(self, to: int, payloads: list[bytes]) -> None:
        self.raft.tell(PeerUnreachable(to, any(peer_protocol.is_snapshot(p) for p in payloads)))
    def _on_clients_seen(self, conn_ids: frozenset[bytes]) -> None:
        self.watches.tell(ConnectionsSeen(conn_ids))

    def _on_peer_payload(self, frm: int, payload: bytes) -> None:
        """``frm`` is the member the transport saw on the connection; a payload that fails
        validation raises BadRequest, which the transport drops, counts and logs."""
        frame = peer_codec.parse_peer_frame(payload, sender=frm, receiver=self.node_id, limits=self._peer_limits)
        if isinstance(frame, peer_codec.RaftFrame):
            self.raft.tell(PeerRaftMessage(frame.message))
        elif isinstance(frame, peer_codec.Touches):
            self.sessions.tell(PeerTouches(frm, frame.batch_id, frame.session_ids))
        elif isinstance(frame, peer_codec.TouchesAck):
            self.sessions.tell(PeerTouchesAcked(frm, frame.batch_id))
        elif isinstance(frame, peer_codec.StatusAsk):
            self.raft.tell(PeerStatusRequest(frm, frame.round_id))
        else:
            self.raft.tell(PeerStatus(frame.round_id, frame.status))

    def stats(self) -> dict[str, Any]:
        return {"pending": self.proposals_waiting.value, "peer": self.transport.stats(),
                "client": self.client_server.stats(),
                "client_connections": self.client_server.connections(), "sessions": self.open_sessions.value}
