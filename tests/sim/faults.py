"""The fault schedule: what goes wrong, and when, drawn from the seed.

Each tick of the fault phase may start one episode: a symmetric partition, a
one-way link cut, a lossy/duplicating/slow network, a crash (of any node or of
a leader), a restart, a
leadership transfer, a forced election, or a node's clock changing speed (within the
run's ``clock_skew``: lease-based reads are safe only while clocks drift that little). Episodes overlap and undo one
another at random (healing the network, restarting nodes), so a run walks
through many combinations. ``heal`` ends them all for the liveness check.
"""

from __future__ import annotations

import random

from skylock.raft import ConfChange, ConfChangeRefused, ConfChangeType as CT
from skylock.raft.membership import members

ACTIONS = ("partition", "one_way", "heal_net", "lossy", "crash", "crash_leader", "restart",
           "transfer", "campaign", "member", "skew")


class Faults:
    """Injects fault episodes into a cluster at a seeded rate.

    Swarm testing: each seed draws its own rate and its own weight per action
    (some seeds are all crashes, some all partitions, ...), which reaches
    deep interleavings of one kind of fault far more often than one fixed mix.
    """

    def __init__(self, rng: random.Random, rate: float | None = None,
                 weights: tuple[int, ...] | None = None) -> None:
        self._rng = rng
        self.rate = rng.choice((0.05, 0.1, 0.1, 0.2))
        self.weights = [rng.choice((0, 1, 3, 6)) for _ in ACTIONS]
        self.weights[ACTIONS.index("heal_net")] += 1
        self.weights[ACTIONS.index("restart")] += 2
        # membership changes are rarer in production but where the new code is: weigh them up
        self.weights[ACTIONS.index("member")] = rng.choice((0, 3, 6, 12))
        if rate is not None:
            self.rate = rate
        if weights is not None:
            self.weights = list(weights)
        self.injected = 0

    def step(self, cluster) -> None:
        rng = self._rng
        if rng.random() >= self.rate:
            return
        action = rng.choices(ACTIONS, self.weights)[0]
        getattr(self, "_" + action)(cluster, rng)
        self.injected += 1

    def _partition(self, cluster, rng) -> None:
        ids = list(cluster.ids)
        rng.shuffle(ids)
        k = rng.randint(1, len(ids) - 1)
        groups = [ids[:k], ids[k:]]
        if len(ids) > 3 and rng.random() < 0.3:
            j = rng.randint(k, len(ids) - 1)
            groups = [ids[:k], ids[k:j], ids[j:]]
        cluster.net.partition([g for g in groups if g])
        cluster.trace(("partition", cluster.now, tuple(tuple(sorted(g)) for g in groups)))

    def _one_way(self, cluster, rng) -> None:
        a, b = rng.sample(cluster.ids, 2)
        cluster.net.cut.add((a, b))
        cluster.trace(("cut", cluster.now, a, b))

    def _heal_net(self, cluster, rng) -> None:
        cluster.net.cut = set()
        cluster.trace(("heal_net", cluster.now))

    def _lossy(self, cluster, rng) -> None:
        net = cluster.net
        net.loss = rng.choice((0.0, 0.05, 0.2, 0.4))
        net.dup = rng.choice((0.0, 0.05, 0.2))
        net.max_delay = rng.choice((1, 3, 3, 6, 12))
        cluster.trace(("lossy", cluster.now, net.loss, net.dup, net.max_delay))

    def _crash(self, cluster, rng) -> None:
        node = cluster.random_live_node()
        if node is not None:
            cluster.crash(node)

    def _crash_leader(self, cluster, rng) -> None:
        """Leaders dying mid-replication is where divergent logs come from."""
        leaders = [n for n in cluster.live_nodes() if n.role == 3]
        if leaders:
            cluster.crash(rng.choice(leaders))

    def _member(self, cluster, rng) -> None:
        """A membership change at a leader: add a new learner, promote a learner, or remove
        a member (the leader itself included). The core may refuse (one change at a time)."""
        leaders = [n for n in cluster.live_nodes() if n.role == 3]
        if not leaders:
            return
        node = rng.choice(leaders)
        conf = node.raw.conf_state()
        kind = rng.choice(("add", "add", "promote", "promote", "remove", "remove_leader"))
        if kind in ("add", "promote"):  # a learner waiting is promoted before another joins
            kind = "promote" if conf.learners else "add"
        if kind == "add" and len(cluster.nodes) < cluster.max_nodes:
            cc = ConfChange(CT.ADD_LEARNER, max(cluster.nodes) + 1, b"sim")
        elif kind == "promote" and conf.learners:
            cc = ConfChange(CT.PROMOTE, rng.choice(conf.learners))
        elif kind == "remove":
            cc = ConfChange(CT.REMOVE, rng.choice(members(conf)))
        elif kind == "remove_leader":
            cc = ConfChange(CT.REMOVE, node.id)
        else:
            return
        try:
            node.raw.propose_conf_change(cc)
        except ConfChangeRefused as exc:
            cluster.trace(("conf_refused", cluster.now, node.id, cc.type.name, cc.node_id, str(exc)))
            return
        if cc.type == CT.ADD_LEARNER:
            cluster.add_node()  # before the leader's Ready: its appends go to the new node
        cluster.checker.conf_changes += 1
        cluster.trace(("conf_change", cluster.now, node.id, cc.type.name, cc.node_id))
        node.drain()

    def _restart(self, cluster, rng) -> None:
        dead = [n for n in cluster.nodes.values() if not n.alive]
        if dead:
            cluster.restart(rng.choice(dead))

    def _transfer(self, cluster, rng) -> None:
        leaders = [n for n in cluster.live_nodes() if n.role == 3]
        if leaders:
            node = rng.choice(leaders)
            to = rng.choice([i for i in cluster.ids if i != node.id])
            cluster.trace(("transfer", cluster.now, node.id, to))
            node.raw.transfer_leadership(to)
            node.drain()

    def _campaign(self, cluster, rng) -> None:
        node = cluster.random_live_node()
        if node is not None:
            cluster.trace(("campaign", cluster.now, node.id))
            node.raw.campaign()
            node.drain()

    def _skew(self, cluster, rng) -> None:
        node = cluster.random_live_node()
        if node is not None:
            skew = cluster.config.params.clock_skew
            node.clock_rate = 1.0 + rng.uniform(-skew, skew)
            cluster.trace(("skew", cluster.now, node.id, round(node.clock_rate, 3)))

    def heal(self, cluster) -> None:
        cluster.net.heal()
        for node in list(cluster.nodes.values()):
            if not node.alive and node.id not in cluster.retired:
                cluster.restart(node)
        cluster.trace(("heal_all", cluster.now))
