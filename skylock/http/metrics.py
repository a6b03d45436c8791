"""``GET /metrics``: the node's Raft position and I/O counters in Prometheus text format.

A custom collector builds every metric afresh at each scrape from the ``NodeProbe``
(nothing is cached or counted twice): Raft state asked of the RaftNode actor, I/O
counters from ``Node.stats``, and the figures the actors publish in ``NodeMetrics``
(counters, tree sizes, lock counts, the fsync, batch and request-latency histograms).
It is registered on a registry of the app's own, not
the process-wide one, since several nodes may share a process (the tests do). In
secure mode the caller needs a valid token, checked by the node like any request's.
"""

from __future__ import annotations

from typing import Any, Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from skylock.actors.node_metrics import NodeMetrics
from skylock.http.probe import NodeProbe

ROLES = ("follower", "pre_candidate", "candidate", "leader")
REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


class NodeCollector(Collector):
    def __init__(self, probe: NodeProbe) -> None:
        self._probe = probe

    def collect(self) -> Iterator[Metric]:
        status = self._probe.raft_status()
        node = str(status["id"])
        yield _gauge("skylock_raft_term", "The Raft term this node is in.", node, status["term"])
        yield _gauge("skylock_raft_commit_index", "The highest log index this node knows is committed.",
                     node, status["commit"])
        yield _gauge("skylock_raft_applied_index", "The highest log index this node has applied.",
                     node, status["applied"])
        yield _gauge("skylock_raft_last_index", "The last index in this node's log.", node, status["last_index"])
        yield _gauge("skylock_raft_leader_id", "The leader this node follows (0: none known).", node,
                     status["leader"])
        roles = GaugeMetricFamily("skylock_raft_role", "1 for this node's current Raft role, else 0.",
                                  labels=["node", "role"])
        for role in ROLES:
            roles.add_metric([node, role], 1 if status["role"] == role else 0)
        yield roles
        yield from _stats_metrics(node, self._probe.stats())
        if self._probe.metrics is not None:
            yield from _published_metrics(node, self._probe.metrics)


def _gauge(name: str, doc: str, node: str, value: Any) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["node"])
    family.add_metric([node], float(value))
    return family


def _counter(name: str, doc: str, node: str, value: Any) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=["node"])
    family.add_metric([node], float(value))
    return family


def _published_metrics(node: str, m: NodeMetrics) -> Iterator[Metric]:
    yield _counter("skylock_raft_leader_changes", "Times this node saw a new leader.", node, m.leader_changes.value)
    yield _counter("skylock_proposals_committed", "Entries carrying a proposal that this node saw committed.",
                   node, m.proposals_committed.value)
    yield _counter("skylock_proposals_failed", "Proposals from this node that failed: refused for want of a "
                   "leader, or not applied within server.request_timeout.", node,
                   m.proposals_dropped.value + m.proposals_timed_out.value)
    yield _counter("skylock_snapshots_taken", "Snapshots this node wrote of its own state.", node,
                   m.snapshots_taken.value)
    for name, doc, gauge in (
        ("skylock_znodes", "Nodes in the tree (the root included).", m.znodes),
        ("skylock_znode_bytes", "Bytes of data held in all nodes of the tree.", m.znode_bytes),
        ("skylock_ephemerals", "Ephemeral nodes in the tree.", m.ephemerals),
        ("skylock_locks_held", "Locks that have a holder.", m.locks_held),
        ("skylock_locks_waiting", "Lock requests queued behind a holder.", m.locks_waiting),
    ):
        yield _gauge(name, doc, node, gauge.value)
    yield from m.histograms()


def _stats_metrics(node: str, stats: dict[str, Any]) -> Iterator[Metric]:
    """The I/O services' counters (frames received, sent, dropped_*, refused connections)
    as counters, one family per counter; pending requests and watch counts as gauges."""
    for service, doc in (("client", "the client server"), ("peer", "the peer transport")):
        for key, value in sorted(stats[service].items()):
            yield _counter(f"skylock_{service}_{key}", f"{key} counted by {doc}.", node, value)
    yield _gauge("skylock_pending_requests", "Writes waiting for their entry to apply.", node, stats["pending"])
    yield _gauge("skylock_client_connections", "Client connections heard from within server.watch_idle_timeout.",
                 node, stats["client_connections"])
    yield _gauge("skylock_sessions", "Open sessions in the cluster, as this node has applied them.", node,
                 stats["sessions"])
    for key, value in sorted(stats["watches"].items()):
        yield _gauge(f"skylock_watch_{key}", f"The watch hub's {key}.", node, value)


def metrics_registry(probe: NodeProbe) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(probe))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The text a scrape returns (blocking: it asks the node's actors; run it off the loop)."""
    return generate_latest(registry)


__all__ = ["CONTENT_TYPE_LATEST", "exposition", "metrics_registry", "NodeCollector", "REGISTRY"]
