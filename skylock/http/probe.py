"""How the HTTP front end reads its own node's state for ``/health`` and ``/metrics``.

Every value keeps its single owner: Raft state and watch counts are asked of their
actors (answered on the actor's own thread: RaftNode by a told ``OwnStatusAsk``, which
goes through its batching like every input; the WatchHub by a pykka ask), the I/O services'
counters are read through ``Node.stats``, which takes each service's own lock, and
the rest is read from ``NodeMetrics``, where each figure's owner publishes it. The
HTTP thread never touches another thread's state directly, and it asks in an
executor, so a busy actor delays one scrape, never the event loop.

The probe needs no token: ``/health`` must answer a load balancer that has none, and
``/metrics`` checks its caller's token with the node before it reads the probe.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Callable

import pykka

from skylock.actors.messages import OwnStatusAsk
from skylock.actors.node_metrics import NodeMetrics

#: Longest an actor may take to answer a probe before the scrape or health check fails.
PROBE_TIMEOUT = 2.0


class NodeProbe:
    def __init__(self, raft: pykka.ActorRef, watches: pykka.ActorRef, counters: Callable[[], dict[str, Any]],
                 *, timeout: float = PROBE_TIMEOUT, metrics: NodeMetrics | None = None) -> None:
        self._raft = raft
        #: the node's published figures (None: a probe that reports only Raft state and stats)
        self.metrics = metrics
        self._watches = watches
        self._counters = counters
        self._timeout = timeout

    def raft_status(self) -> dict[str, Any]:
        """This node's own Raft view: id, role, term, leader (0: none), commit, applied."""
        answer: Future[dict[str, Any]] = Future()
        self._raft.tell(OwnStatusAsk(answer))
        return dict(answer.result(timeout=self._timeout))

    def stats(self) -> dict[str, Any]:
        """The node's counters (``Node.stats``) plus the WatchHub's."""
        return {**self._counters(), "watches": self._watches.proxy().stats().get(timeout=self._timeout)}


__all__ = ["NodeProbe", "PROBE_TIMEOUT"]
