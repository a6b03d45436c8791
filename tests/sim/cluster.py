"""A seeded cluster run: nodes, network, clients, faults and the checker.

One ``random.Random(seed)`` drives everything (each node's core gets its own
Random derived from it), there is no wall clock and no thread, so a seed
replays exactly. A run has two phases:

1. faults: ``fault_ticks`` ticks of client traffic, compaction and fault
   episodes, with every invariant checked as state changes;
2. liveness: the network heals and every node restarts; within ten of the
   longest election timeouts (``20 * election_tick`` by default) a leader must emerge and a fresh proposal
   must be applied by every node.

``run_seed(seed)`` returns a digest of the final state; a violation raises
``SimFailure`` carrying the seed and the last events. ``replay(seed)`` runs a
seed again with the full trace.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import math
import random
from dataclasses import dataclass
from typing import Any

from skylock.raft import ConfState, Message, MessageType, ProposalDropped, Role
from skylock.raft.core import COMMIT_NOTICE
from skylock.raft.lease import lease_ticks_for
from skylock.raft.membership import members

from .faults import Faults
from .invariants import Checker, InvariantViolation
from .network import InFlight, Network
from .node import NodeParams, SimNode
from .workload import Workload

TRACE_TAIL = 60


class SimFailure(AssertionError):
    """A seed broke an invariant (or the core raised); replay it with ``replay(seed)``."""

    def __init__(self, seed: int, n_nodes: int, cause: BaseException, tail: list[tuple]) -> None:
        self.seed = seed
        self.cause = cause
        lines = "\n".join("  " + format_event(e) for e in tail)
        super().__init__(
            f"seed {seed} ({n_nodes} nodes) failed: {type(cause).__name__}: {cause}\n"
            f"replay: python -m tests.sim.replay {seed}\nlast events:\n{lines}")


def format_event(e: tuple) -> str:
    if e[0] == "d":
        _, now, mtype, frm, to, term, index, n, commit, reject = e
        return (f"t={now} deliver {MessageType(mtype).name} {frm}->{to} term={term} "
                f"index={index} entries={n} commit={commit}{' REJECT' if reject else ''}")
    kind, now, *rest = e
    return f"t={now} {kind} {' '.join(map(str, rest))}"


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything a seed decides before the run starts."""

    n_nodes: int
    params: NodeParams
    fault_ticks: int
    compact_p: float
    crash_leader_p: float
    #: override the seed's swarm draw of fault rate / per-action weights (see faults.py)
    fault_rate: float | None = None
    fault_weights: tuple[int, ...] | None = None
    #: the messages a node receives in one tick are all stepped before its Ready loop runs,
    #: as RaftNode steps every queued input first (otherwise one Ready loop per message)
    batch_inputs: bool = False


def plan(seed: int, n_nodes: int | None = None, fault_ticks: int | None = None) -> RunConfig:
    rng = random.Random(seed * 7919 + 1)
    if n_nodes is None:
        n_nodes = 3 if seed % 2 == 0 else 5
    max_size = rng.choice((1, 16, 1 << 20))
    # one entry per message with one in flight is legal but too slow to catch a
    # lagging follower up within the liveness bound; pipeline when batching is off
    inflight = rng.choice((4, 256) if max_size == 1 else (1, 2, 4, 256))
    params = NodeParams(
        election_tick=rng.choice((6, 8, 10)),
        heartbeat_tick=rng.choice((1, 2, 2)),
        pre_vote=rng.random() < 0.8,
        check_quorum=rng.random() < 0.8,
        max_inflight_msgs=inflight,
        max_size_per_msg=max_size,
    )
    if fault_ticks is None:
        fault_ticks = rng.randint(60, 120)
    compact_p = rng.choice((0.0, 0.01, 0.03))
    crash_leader_p = rng.choice((0.0, 0.0, 0.05, 0.2))
    # drawn last so the draws above stay what they were: half the runs keep the core's
    # default bound (2*election_tick), the others a configured raft.election_timeout_max
    if rng.random() < 0.5:
        e = params.election_tick
        params = dataclasses.replace(params, max_election_tick=rng.randint(e + 2, 3 * e))
    params = dataclasses.replace(params, **lease_plan(rng, params))
    batch_inputs = rng.random() < 0.5  # drawn after the others, which stay as they were
    return RunConfig(n_nodes, params, fault_ticks, compact_p, crash_leader_p, batch_inputs=batch_inputs)


def lease_plan(rng: random.Random, params: NodeParams) -> dict[str, Any]:
    """Half the check-quorum runs read by lease, with a clock drift bound ``d`` the lease allows
    for, as the node derives it (``raft.max_clock_drift``), and clocks that run up to ``d/3``
    fast or slow (two clocks then differ by less than ``d``). The other runs skew clocks up to
    20%: no safety property of Raft may depend on them (at 30% without pre-vote, a fast node
    that cannot win keeps resetting the others' election timers past the liveness bound)."""
    if params.check_quorum and rng.random() < 0.5:
        drift = rng.choice((0.1, 0.2, 0.3))
        return {"lease_ticks": lease_ticks_for(params.election_tick, drift), "clock_skew": drift / 3}
    return {"clock_skew": rng.choice((0.0, 0.0, 0.1, 0.2))}


class Cluster:
    """The simulated world for one seed."""

    def __init__(self, seed: int, config: RunConfig, keep_trace: bool = False) -> None:
        self.seed = seed
        self.config = config
        self.rng = random.Random(seed)
        self.now = 0
        self.ids = list(range(1, config.n_nodes + 1))
        conf = ConfState(voters=tuple(self.ids))
        self.checker = Checker()
        self.net = Network(random.Random(self.rng.getrandbits(64)))
        self.events = 0
        self._trace = [] if keep_trace else collections.deque(maxlen=TRACE_TAIL)
        self.nodes = {
            i: SimNode(i, conf, config.params, random.Random(self.rng.getrandbits(64)),
                       self.checker, self)
            for i in self.ids
        }
        # lease runs read more: a stale read needs a read to reach a deposed leader in time
        self.workload = Workload(random.Random(self.rng.getrandbits(64)),
                                 read_p=0.3 if config.params.lease_ticks else 0.08)
        self.faults = Faults(random.Random(self.rng.getrandbits(64)), config.fault_rate,
                             config.fault_weights)
        self.live_index: dict[bytes, int] = {}
        self.faults_on = False
        #: membership faults add nodes with fresh ids, up to this many in all
        self.max_nodes = config.n_nodes + 2
        #: removed nodes shut down by the operator once their removal is committed
        self.retired: set[int] = set()
        clocks = random.Random(f"clocks-{seed}")  # apart, so the other draws stay what they were
        skew = config.params.clock_skew
        for node in self.nodes.values():
            node.clock_rate = 1.0 + clocks.uniform(-skew, skew)
            node.start()

    # ---- tracing -----------------------------------------------------------------

    def trace(self, event: tuple) -> None:
        self.events += 1
        self._trace.append(event)

    def tail(self) -> list[tuple]:
        return list(self._trace)[-TRACE_TAIL:]

    # ---- node access ------------------------------------------------------------

    def live_nodes(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if n.raw is not None]

    def random_live_node(self) -> SimNode | None:
        live = self.live_nodes()
        return self.rng.choice(live) if live else None

    def add_node(self) -> SimNode:
        """A new, empty server that knows no configuration (``serve --join``): it waits to
        be contacted by the leader that added it."""
        node_id = max(self.nodes) + 1
        node = SimNode(node_id, ConfState(), self.config.params,
                       random.Random(self.rng.getrandbits(64)), self.checker, self)
        self.nodes[node_id] = node
        self.ids.append(node_id)
        node.start()
        self.trace(("new_node", self.now, node_id))
        return node

    def crash(self, node: SimNode, why: str = "crash") -> None:
        self.trace((why, self.now, node.id, node.term, node.disk.last_index))
        node.crash()

    def crash_leader_now(self) -> bool:
        """Should a leader die at this instant (just elected / appended / committed)?

        Those instants, before anyone has heard of them, are what leaves
        divergent uncommitted tails behind and what committing an older-term
        entry by counting gets wrong (the paper's Figure 8).
        """
        p = self.config.crash_leader_p
        return self.faults_on and bool(p) and self.rng.random() < p

    def restart(self, node: SimNode) -> None:
        node.start()
        self.trace(("restart", self.now, node.id, node.term, node.disk.last_index,
                    node.disk.snapshot.meta.index))
        node.drain()

    # ---- the network ---------------------------------------------------------------

    def send(self, node: SimNode, m: Message) -> None:
        self.net.send(self.now, m, node.incarnation)

    def _deliver(self, f: InFlight, ready: bool = True) -> SimNode | None:
        """Step ``f`` into its node and, with ``ready``, run the node's Ready loop; the node
        stepped (None: the message was lost)."""
        m = f.msg
        dst = self.nodes.get(m.to)
        if dst is None:
            raise InvariantViolation(f"message to unknown node {m.to}: {m}")
        if dst.raw is None or self.net.is_cut(m.frm, m.to):
            # the sender's transport notices a dead peer or a cut link
            self._report(f, unreachable=self.rng.random() < 0.3)
            return None
        if self.net.lost(m):
            self._report(f, unreachable=False)
            return None
        self.trace(("d", self.now, int(m.type), m.frm, m.to, m.term, m.index, len(m.entries),
                    m.commit, m.reject))
        if m.type == MessageType.APP_RESP and not m.reject:
            self.checker.on_ack(m.to, m.term, m.frm, m.index)
        elif m.type == MessageType.APP and m.context == COMMIT_NOTICE:
            self.checker.on_commit_notice(m.frm, m.term, m.to, m.index)
        try:
            dst.raw.step(m)
        except ProposalDropped:
            if m.type != MessageType.PROP:
                raise
            # a forwarded proposal the leader cannot take (transfer under way) is simply lost
        if ready:
            dst.drain()
        if m.type == MessageType.SNAP:
            self._report_snapshot(f, ok=True)
        return dst

    def _report(self, f: InFlight, unreachable: bool) -> None:
        m = f.msg
        if m.type == MessageType.SNAP:
            self._report_snapshot(f, ok=False)
        elif unreachable:
            src = self.nodes[m.frm]
            if src.raw is not None and src.incarnation == f.sender_incarnation:
                src.raw.report_unreachable(m.to)
                src.drain()

    def _report_snapshot(self, f: InFlight, ok: bool) -> None:
        src = self.nodes[f.msg.frm]
        if src.raw is not None and src.incarnation == f.sender_incarnation:
            self.trace(("snap_status", self.now, src.id, f.msg.to, ok))
            src.raw.report_snapshot(f.msg.to, ok)
            src.drain()

    # ---- one tick of the world --------------------------------------------------------

    def step(self, faults: bool) -> None:
        self.now += 1
        self.faults_on = faults
        if self.config.batch_inputs:
            stepped: list[SimNode] = []
            for f in self.net.due(self.now):
                node = self._deliver(f, ready=False)
                if node is not None and node not in stepped:
                    stepped.append(node)
            for node in stepped:
                if node.alive:  # a Ready loop before it may have crashed it (crash_leader_p)
                    node.drain()
        else:
            for f in self.net.due(self.now):
                self._deliver(f)
        order = self.live_nodes()
        self.rng.shuffle(order)
        for node in order:
            for _ in range(node.ticks_due()):
                if node.raw is None:
                    break  # it crashed in its own Ready loop (crash_leader_p)
                node.raw.tick()
                node.drain()
        self.workload.step(self)
        if faults:
            self.faults.step(self)
        if self.config.compact_p:
            for node in self.live_nodes():
                if self.rng.random() < self.config.compact_p and node.compact():
                    self.trace(("compact", self.now, node.id, node.applied))

    def on_applied(self, node: SimNode, e) -> None:
        if e.data[:4] == b"live":
            self.live_index.setdefault(e.data, e.index)

    # ---- the run -------------------------------------------------------------------------

    def run(self) -> str:
        for _ in range(self.config.fault_ticks):
            self.step(faults=True)
        self.faults.heal(self)
        self._check_liveness()
        return self.digest()

    def _stable_leader(self) -> SimNode | None:
        live = self.live_nodes()
        if not live:
            return None
        top = max(n.term for n in live)
        for n in live:
            if n.role == Role.LEADER and n.term == top:
                return n
        return None

    def _check_liveness(self) -> None:
        """After healing, a leader must emerge, a fresh proposal reach every node, and a
        linearizable read be answered (``_check_read_liveness``)."""
        params = self.config.params
        election = params.election_tick
        budget = 10 * (params.max_election_tick or 2 * election)  # ten longest election timeouts
        if self.checker.conf_changes:
            # a removed leader's step-down costs an election, and a two-voter cluster
            # (after removals) splits its votes more often: twice the time
            budget *= 2
        if not params.pre_vote:
            # every node that campaigned while cut off comes back with a higher term and, heard
            # by the leader (check-quorum's reply to a stale term), forces one more election;
            # with narrow timeout ranges those elections split more often: three times the time
            budget *= 3
        # in world ticks: a clock running at 1 - skew takes that much longer for its timeouts
        budget = math.ceil(budget / (1 - params.clock_skew))
        self.workload.propose_p = 0.1
        self.workload.read_p = 0.02
        probe, proposed_at, probes = b"", -1, 0
        for _ in range(budget):
            self.step(faults=False)
            self._retire_removed()
            if probe in self.live_index:
                index = self.live_index[probe]
                if all(n.applied >= index for n in self._members()):
                    self.trace(("live", self.now, probe, index))
                    self._check_read_liveness(budget, election)
                    return
                continue
            if proposed_at >= 0 and self.now - proposed_at < 4 * election:
                continue
            leader = self._stable_leader()
            if leader is None:
                continue
            probes += 1
            candidate = b"live%d" % probes
            try:
                leader.raw.propose(candidate)
            except ProposalDropped:
                continue
            probe, proposed_at = candidate, self.now
            self.trace(("probe", self.now, leader.id, candidate))
            leader.drain()
        states = ", ".join(f"{n.id}:{Role(n.role).name}/t{n.term}/applied{n.applied}"
                           for n in self.nodes.values())
        raise InvariantViolation(
            f"liveness: no fresh proposal applied on all nodes within {budget} ticks of healing "
            f"(probe={probe!r}, {states})")

    def _check_read_liveness(self, budget: int, election: int) -> None:
        """A read asked of a live member once the cluster serves again is answered: reads
        left waiting by the faults (a heartbeat round lost with its reads, a leader's round
        still counted in flight) must not hold later reads back. A read whose node lost its
        leader meanwhile is dropped by design, so a fresh one is asked now and then."""
        seen = {n.id: len(n.read_states) for n in self.nodes.values()}
        asked, asked_at = 0, -1
        for _ in range(budget):
            for n in self.nodes.values():
                new, seen[n.id] = n.read_states[seen.get(n.id, 0):], len(n.read_states)
                if any(ctx.startswith(b"liveread") for _, ctx in new):
                    self.trace(("live-read", self.now, asked))
                    return
            if asked_at < 0 or self.now - asked_at >= 4 * election:
                members = [n for n in self._members() if n.alive]
                node = members[asked % len(members)]
                asked += 1
                ctx = b"liveread%d" % asked
                self.checker.on_read_requested(ctx)
                node.raw.read_index(ctx)
                node.drain()
                asked_at = self.now
                self.trace(("read-probe", self.now, node.id, ctx))
            self.step(faults=False)
            self._retire_removed()
        raise InvariantViolation(f"liveness: none of {asked} reads answered within {budget} ticks")

    def _members(self) -> list[SimNode]:
        """The nodes that must serve after healing: all but the retired (removed) ones."""
        return [n for i, n in self.nodes.items() if i not in self.retired]

    def _retire_removed(self) -> None:
        """Once a leader's configuration is committed, the operator stops the nodes it
        does not list (removed, or added by a change that was lost). A removed node that
        never heard its removal was committed keeps campaigning, in vain: the voters ignore
        it (leader lease, pre-vote) or outvote it (their logs are longer)."""
        leaders = [n for n in self.live_nodes() if n.role == Role.LEADER]
        if not leaders:
            return
        leader = max(leaders, key=lambda n: n.term)  # a removed node may be at a higher term
        conf_index = leader.disk.confs[-1][0]
        if leader.disk.hard_state.commit < conf_index:
            return
        keep = set(members(leader.disk.latest_conf()))
        for node in self.live_nodes():
            if node.id not in keep:
                self.retired.add(node.id)
                self.crash(node, "retire")

    def digest(self) -> str:
        h = hashlib.sha256()
        for n in self.nodes.values():
            h.update(repr((n.id, n.disk.hard_state, n.disk.last_index, n.disk.snapshot.meta.index,
                           n.applied, n.chain, n.read_states)).encode())
        h.update(repr((self.events, self.checker.max_commit, sorted(self.checker.leaders.items()),
                       self.workload.proposed, self.now)).encode())
        return h.hexdigest()


def run_seed(seed: int, n_nodes: int | None = None, keep_trace: bool = False,
             fault_ticks: int | None = None) -> Cluster:
    """Run one seed to completion; raises SimFailure with the seed and trace tail."""
    config = plan(seed, n_nodes, fault_ticks)
    cluster = Cluster(seed, config, keep_trace)
    try:
        cluster.result = cluster.run()
    except Exception as exc:  # a violation or a crash of the core: both are findings
        raise SimFailure(seed, config.n_nodes, exc, cluster.tail()) from exc
    return cluster


def replay(seed: int, n_nodes: int | None = None, verbose: bool = True) -> Cluster:
    """Run ``seed`` again with the full trace; print it if the run fails."""
    config = plan(seed, n_nodes)
    cluster = Cluster(seed, config, keep_trace=True)
    try:
        cluster.result = cluster.run()
    except Exception as exc:
        if verbose:
            for e in cluster._trace:
                print(format_event(e))
        raise SimFailure(seed, config.n_nodes, exc, cluster.tail()) from exc
    return cluster
