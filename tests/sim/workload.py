"""Clients: a stream of unique proposals and some linearizable reads.

Proposals go to any live node (a follower forwards them to its leader), one
at a time or batched; a ProposalDropped is normal when there is no leader.
Payloads are unique per run so a lost or duplicated proposal is visible.
Reads record, at request time, the highest commit index anyone has
acknowledged; the checker holds the answer to it.
"""

from __future__ import annotations

import random

from skylock.raft import ProposalDropped


class Workload:
    """Seeded client traffic against the live nodes of a cluster."""

    def __init__(self, rng: random.Random, propose_p: float = 0.35, read_p: float = 0.08) -> None:
        self._rng = rng
        self.propose_p = propose_p
        self.read_p = read_p
        self.proposed = 0
        self.dropped = 0
        self.reads = 0

    def step(self, cluster) -> None:
        rng = self._rng
        if rng.random() < self.propose_p:
            node = cluster.random_live_node()
            if node is not None:
                self._propose(cluster, node, rng.choice((1, 1, 1, 2, 3)))
        if rng.random() < self.read_p:
            node = cluster.random_live_node()
            if node is not None:
                self.reads += 1
                ctx = b"r%d" % self.reads
                cluster.checker.on_read_requested(ctx)
                try:
                    node.raw.read_index(ctx)
                except ProposalDropped:
                    pass
                node.drain()

    def _propose(self, cluster, node, count: int) -> None:
        payloads = []
        for _ in range(count):
            self.proposed += 1
            payloads.append(b"v%d" % self.proposed)
        cluster.trace(("prop", cluster.now, node.id, payloads[0], count))
        try:
            if count == 1:
                node.raw.propose(payloads[0])
            else:
                node.raw.propose_many(payloads)
        except ProposalDropped:
            self.dropped += 1
        node.drain()
