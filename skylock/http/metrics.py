"""``GET /metrics``: the node's Raft position and I/O counters in Prometheus text format.

A custom collector builds every metric afresh at each scrape from the ``NodeProbe``
(nothing is cached or counted twice), registered on a registry of the app's own, not
the process-wide one, since several nodes may share a process (the tests do). In
secure mode the caller needs a valid token, checked by the node like any request's.
"""

from __future__ import annotations

from typing import Any, Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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


def _gauge(name: str, doc: str, node: str, value: Any) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["node"])
    family.add_metric([node], float(value))
    return family


def _stats_metrics(node: str, stats: dict[str, Any]) -> Iterator[Metric]:
    """The I/O services' counters (frames received, sent, dropped_*, refused connections)
    as counters, one family per counter; pending requests and watch counts as gauges."""
    for service, doc in (("client", "the client server"), ("peer", "the peer transport")):
        for key, value in sorted(stats[service].items()):
            family = CounterMetricFamily(f"skylock_{service}_{key}", f"{key} counted by {doc}.", labels=["node"])
            family.add_metric([node], float(value))
            yield family
    yield _gauge("skylock_pending_requests", "Writes waiting for their entry to apply.", node, stats["pending"])
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
