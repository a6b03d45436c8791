"""The figures a node keeps for ``/metrics`` that no actor is asked for at scrape time.

Each figure has one writer, named beside it: a counter is a ``Gauge`` (a plain int the
owner bumps on its own thread, with no lock; the scrape reads it a moment old at
worst). Distributions are prometheus-client histograms, unregistered here: the HTTP
front end's collector reads them, on a registry of its own per node, since several
nodes may share a process. A histogram has an observer per event (an fsync, a reply)
and takes prometheus-client's own small lock per observation; nothing else on the hot
path locks for monitoring.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Histogram
from prometheus_client.core import Metric

from skylock.actors.gauge import Gauge

FSYNC_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
COUNT_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class NodeMetrics:
    def __init__(self, node_id: int) -> None:
        node = str(node_id)
        # -- RaftNode actor --
        #: times this node saw the leader change to a known one
        self.leader_changes = Gauge()
        #: entries carrying a proposal that this node saw committed
        self.proposals_committed = Gauge()
        #: proposals the core refused at once (no leader)
        self.proposals_dropped = Gauge()
        #: snapshots this node wrote of its own state (not ones received from a leader)
        self.snapshots_taken = Gauge()
        self._fsync = Histogram("skylock_wal_fsync_seconds", "Time of one WAL fsync (one per group commit).",
                                ["node"], registry=None, buckets=FSYNC_BUCKETS)
        self._per_fsync = Histogram("skylock_wal_entries_per_fsync", "Log entries made durable by one WAL fsync.",
                                    ["node"], registry=None, buckets=COUNT_BUCKETS)
        self._per_append = Histogram("skylock_raft_entries_per_append",
                                     "Log entries in one AppendEntries message this node sent.",
                                     ["node"], registry=None, buckets=COUNT_BUCKETS)
        self.fsync_seconds = self._fsync.labels(node)
        self.entries_per_fsync = self._per_fsync.labels(node)
        self.entries_per_append = self._per_append.labels(node)
        # -- the node's ticker thread --
        #: writes that got no result before ``server.request_timeout``
        self.proposals_timed_out = Gauge()
        # -- Store actor --
        self.znodes = Gauge()
        self.znode_bytes = Gauge()
        self.ephemerals = Gauge()
        #: locks with a holder, and requests queued behind a holder, in the replicated tree
        self.locks_held = Gauge()
        self.locks_waiting = Gauge()
        # -- any actor that answers a client (the Outbox) --
        self._requests = Histogram("skylock_request_seconds",
                                   "Time from a client request's arrival to its reply, per op "
                                   "(lock.acquire includes the wait for the lock).",
                                   ["node", "op"], registry=None, buckets=REQUEST_BUCKETS)
        self._node = node
        self._by_op: dict[str, Histogram] = {}

    def observe_request(self, op: str, seconds: float) -> None:
        """Any thread. ``op`` is one the codec accepted, so the label set stays small."""
        child = self._by_op.get(op)
        if child is None:
            child = self._by_op[op] = self._requests.labels(self._node, op)
        child.observe(seconds)

    def histograms(self) -> Iterator[Metric]:
        for histogram in (self._fsync, self._per_fsync, self._per_append, self._requests):
            yield from histogram.collect()


__all__ = ["NodeMetrics"]
