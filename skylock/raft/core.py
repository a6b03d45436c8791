"""Raft: the consensus state machine of one peer (the paper's Figure 2, plus §6 and §9).

Inputs are ``step(message)`` and ``tick()``; outputs accumulate in ``msgs`` and
``read_states`` and in the log's unstable part, which ``RawNode`` hands out as a Ready.
Local events (HUP, BEAT, CHECK_QUORUM, ...) are messages with term 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import quorum
from .config import Config
from .log import RaftLog
from .membership import ConfChange, ConfChangeRefused, apply_change, members
from .progress import Progress, ProgressState
from .quorum import VoteResult
from .lease import ReadLease
from .read_only import ReadOnly
from .storage import CompactedError, MemoryStorage
from .types import ConfState, Entry, EntryType, Message, MessageType as MT, Role, Snapshot, encode_conf_state

#: Context of a VOTE sent by a leadership-transfer campaign: voters ignore their leader lease.
CAMPAIGN_TRANSFER = b"transfer"
#: The context of an append that only tells a follower the commit index, sent when the leader
#: knows the follower holds every entry before it (replicating, nothing in flight): accepted,
#: it needs no answer, since the leader would learn nothing from one. A rejection is still
#: answered. Under one-at-a-time writes this halves the acks a leader takes per write.
COMMIT_NOTICE = b"commit"

_RESPONSE_OF = {MT.VOTE: MT.VOTE_RESP, MT.PRE_VOTE: MT.PRE_VOTE_RESP}


class ProposalDropped(Exception):
    """A proposal could not be accepted: no known leader, or leadership transfer under way."""


@dataclass(frozen=True, slots=True)
class ReadState:
    """A completed ``read_index``: serve the read once applied >= ``index``."""

    index: int
    context: bytes


class Raft:
    """One Raft peer. Not thread-safe; driven by ``RawNode``."""

    def __init__(self, cfg: Config, storage: MemoryStorage) -> None:
        cfg.validate()
        self.id = cfg.id
        self.cfg = cfg
        self.rng = cfg.rng
        self.election_timeout = cfg.election_tick
        self.max_election_timeout = cfg.election_tick_bound
        self.heartbeat_timeout = cfg.heartbeat_tick
        self.pre_vote = cfg.pre_vote
        self.check_quorum = cfg.check_quorum
        self.lease = ReadLease(cfg.lease_ticks)
        #: ticks left in which a restarted node votes for nobody (lease mode): it may have
        #: promised a leader, before the restart, not to elect anyone else for that long
        self.restart_guard = cfg.election_tick if cfg.lease_ticks else 0
        self.max_inflight = cfg.max_inflight_msgs
        self.max_size_per_msg = cfg.max_size_per_msg
        self.log = RaftLog(storage)
        hs, _ = storage.initial_state()
        #: the configuration in force: the latest in the log, committed or not (thesis 4.1)
        self.conf: ConfState = self.log.confs.latest()
        self.voters: tuple[int, ...] = tuple(sorted(self.conf.voters))
        self.term = 0
        self.vote = 0
        self.leader = 0
        self.role = Role.FOLLOWER
        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.prs: dict[int, Progress] = {}
        self.votes: dict[int, bool] = {}
        self.read_only = ReadOnly()
        #: reads arrived that no heartbeat round sent since confirms yet (``start_read_round``)
        self.read_round_due = False
        #: the context the latest heartbeat round carried: in flight while it is pending
        self.read_round = b""
        self.pending_read_index: list[Message] = []
        self.lead_transferee = 0
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.election_timeout
        if hs.term or hs.vote or hs.commit:
            self.log.commit_to(hs.commit)
            self.term = hs.term
            self.vote = hs.vote
        if cfg.applied:
            self.log.applied_to(cfg.applied)
        self.become_follower(self.term, 0)

    # ---- role transitions --------------------------------------------------

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = 0
        self.leader = 0
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.election_timeout + self.rng.randrange(
            self.max_election_timeout - self.election_timeout)
        self.lead_transferee = 0
        self.votes = {}
        last = self.log.last_index()
        durable = self.log.durable_index()
        self.prs = {v: Progress(last + 1, self.max_inflight, durable if v == self.id else 0)
                    for v in sorted({*members(self.conf), self.id})}
        self.read_only = ReadOnly()
        self.read_round_due = False
        self.read_round = b""
        self.pending_read_index = []

    def become_follower(self, term: int, leader: int) -> None:
        self._reset(term)
        self.leader = leader
        self.role = Role.FOLLOWER

    def become_pre_candidate(self) -> None:
        """§9.6: ask for votes without bumping the term, so a partitioned node cannot disrupt."""
        if self.role == Role.LEADER:
            raise AssertionError("leader cannot become pre-candidate")
        self.votes = {}
        self.leader = 0
        self.role = Role.PRE_CANDIDATE

    def become_candidate(self) -> None:
        if self.role == Role.LEADER:
            raise AssertionError("leader cannot become candidate")
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE

    def become_leader(self) -> None:
        """§5.4.2: a new leader appends an empty entry so it can commit something of its term."""
        if self.role == Role.FOLLOWER:
            raise AssertionError("follower cannot become leader directly")
        self._reset(self.term)
        self.leader = self.id
        self.role = Role.LEADER
        self.prs[self.id].become_replicate()
        self.lease.reset()
        self.append_entries([Entry(self.term, self.log.last_index() + 1)])

    def promotable(self) -> bool:
        """A voter of its latest configuration campaigns; so does a voter of its committed
        one, removed by a change not known to be committed (thesis 4.2.2: it may still be
        needed to commit its own removal, though its own vote then does not count). A
        learner never campaigns, nor a node that knows its removal is committed."""
        return self.id in self.voters or self.id in self.log.confs.at(self.log.committed).voters

    def _peers(self) -> list[int]:
        """Everyone a leader replicates to: members, and a member just removed until its
        removal commits (so it learns it was removed and stops campaigning)."""
        return [p for p in self.prs if p != self.id]

    # ---- membership ----------------------------------------------------------

    def _sync_conf(self) -> None:
        """After the log changed: adopt its latest configuration if that is a new one."""
        conf = self.log.confs.latest()
        if conf is not self.conf:
            self._apply_conf(conf)

    def _apply_conf(self, conf: ConfState) -> None:
        self.conf = conf
        self.voters = conf.voters
        wanted = {*members(conf), self.id}
        if self.role != Role.LEADER:
            last, durable = self.log.last_index(), self.log.durable_index()
            self.prs = {v: self.prs.get(v) or Progress(last + 1, self.max_inflight, durable if v == self.id else 0)
                        for v in sorted(wanted)}
            return
        last = self.log.last_index()
        for v in sorted(wanted - set(self.prs)):
            self.prs[v] = Progress(last + 1, self.max_inflight)
        if self.lead_transferee and self.lead_transferee not in self.voters:
            self.lead_transferee = 0
        self._prune_progress()

    def _prune_progress(self) -> None:
        """Leader: forget a removed member once its removal is committed and it holds the
        removal; called after a heartbeat round, which told it the commit index, so it
        knows it was removed and stops campaigning (best effort: the heartbeat may be lost)."""
        at = self.log.confs.latest_index()
        if self.log.committed < at:
            return
        keep = {*members(self.conf), self.id}
        for v in [v for v in self.prs if v not in keep and self.prs[v].match >= at]:
            del self.prs[v]

    def _maybe_leave(self) -> None:
        """A leader removed from the configuration steps down once the removal is committed
        (thesis 4.2.2), handing over to a caught-up voter so no election timeout is lost."""
        if (self.role != Role.LEADER or self.id in self.voters
                or self.log.committed < self.log.confs.latest_index()):
            return
        last = self.log.last_index()
        ready = [v for v in self.voters if v in self.prs and self.prs[v].match == last]
        if ready:
            self._order_campaign(ready[0])
        self.become_follower(self.term, 0)

    def propose_conf_change(self, cc: ConfChange) -> None:
        """Leader only: append the configuration ``cc`` leads to, in force at once.
        Refused while another change is uncommitted (one at a time keeps every two
        consecutive configurations overlapping), and until an entry of this term is
        committed (so a change from a previous term's leader cannot be superseded by one
        that skips it: the fix to single-server changes, raft-dev 2015)."""
        if self.role != Role.LEADER:
            raise ConfChangeRefused("not the leader")
        if self.lead_transferee:
            raise ConfChangeRefused("leadership transfer under way")
        if self.log.confs.latest_index() > self.log.committed:
            raise ConfChangeRefused("another membership change is not committed yet")
        if not self._committed_in_current_term():
            raise ConfChangeRefused("the new leader has not committed an entry of its term yet")
        new = apply_change(self.conf, cc)
        self.append_entries([Entry(0, 0, EntryType.CONF, encode_conf_state(new))])
        self.bcast_append()

    # ---- clock ---------------------------------------------------------------

    def tick(self) -> None:
        self.lease.tick()
        if self.restart_guard:
            self.restart_guard -= 1
        if self.role == Role.LEADER:
            self._tick_heartbeat()
        else:
            self._tick_election()

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.promotable() and self.election_elapsed >= self.randomized_election_timeout:
            self.election_elapsed = 0
            self.step(Message(MT.HUP, frm=self.id))

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.election_timeout:
            self.election_elapsed = 0
            if self.check_quorum:
                self.step(Message(MT.CHECK_QUORUM, frm=self.id))
            if self.role == Role.LEADER and self.lead_transferee:
                self.lead_transferee = 0  # the transfer did not finish in an election timeout
        if self.role != Role.LEADER:
            return
        self._expire_snapshots()
        if self.heartbeat_elapsed >= self.heartbeat_timeout:
            self.heartbeat_elapsed = 0
            self.step(Message(MT.BEAT, frm=self.id))

    def _expire_snapshots(self) -> None:
        """A snapshot nobody reported on for two election timeouts is presumed lost: probe
        again (which resends it if still needed) rather than wait forever."""
        for pr in self.prs.values():
            if pr.state == ProgressState.SNAPSHOT:
                pr.snapshot_elapsed += 1
                if pr.snapshot_elapsed >= 2 * self.election_timeout:
                    pr.pending_snapshot = 0
                    pr.become_probe()

    # ---- elections -------------------------------------------------------------

    def campaign(self, transfer: bool = False) -> None:
        """Start an election: a pre-vote round first unless this is a leadership transfer."""
        if not self.promotable():
            return
        if self.pre_vote and not transfer:
            self.become_pre_candidate()
            self._request_votes(MT.PRE_VOTE, self.term + 1, b"")
        else:
            self._start_election(CAMPAIGN_TRANSFER if transfer else b"")

    def _start_election(self, ctx: bytes) -> None:
        self.become_candidate()
        self._request_votes(MT.VOTE, self.term, ctx)

    def _request_votes(self, vote_type: MT, term: int, ctx: bytes) -> None:
        if self._poll(self.id, True) == VoteResult.WON:
            self._won_election()  # single-node cluster
            return
        last_index, last_term = self.log.last_index(), self.log.last_term()
        for v in self.voters:
            if v != self.id:
                self.msgs.append(Message(vote_type, to=v, frm=self.id, term=term,
                                         log_term=last_term, index=last_index, context=ctx))

    def _won_election(self) -> None:
        if self.role == Role.PRE_CANDIDATE:
            self._start_election(b"")
        else:
            self.become_leader()
            self.bcast_append()

    def _poll(self, peer: int, granted: bool) -> VoteResult:
        self.votes.setdefault(peer, granted)
        return quorum.vote_result(self.voters, self.votes)

    # ---- the step function -------------------------------------------------------

    def step(self, m: Message) -> None:
        """Handle one message; raises ProposalDropped for a proposal that cannot be taken."""
        if m.term == 0:
            pass  # local message, or a PROP / READ_INDEX carried without a term
        elif m.term > self.term:
            if m.type in (MT.VOTE, MT.PRE_VOTE):
                force = m.context == CAMPAIGN_TRANSFER
                in_lease = (self.check_quorum and self.leader != 0
                            and self.election_elapsed < self.election_timeout) or self.restart_guard > 0
                if not force and in_lease:
                    return  # §6: we heard from a live leader recently; ignore the disruption
            if m.type == MT.PRE_VOTE or (m.type == MT.PRE_VOTE_RESP and not m.reject):
                pass  # a pre-vote never changes anyone's term
            elif m.type in (MT.APP, MT.HEARTBEAT, MT.SNAP):
                self.become_follower(m.term, m.frm)
            else:
                self.become_follower(m.term, 0)
        elif m.term < self.term:
            if (self.check_quorum or self.pre_vote) and m.type in (MT.HEARTBEAT, MT.APP):
                # tell a stale leader about the newer term so it steps down
                self._send(MT.APP_RESP, m.frm)
            elif m.type == MT.PRE_VOTE:
                self._send(MT.PRE_VOTE_RESP, m.frm, reject=True)
            return

        t = m.type
        if t == MT.HUP:
            if self.role != Role.LEADER:
                self.campaign()
        elif t in (MT.VOTE, MT.PRE_VOTE):
            self._handle_vote_request(m)
        elif self.role == Role.LEADER:
            self._step_leader(m)
        elif self.role == Role.FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    def _send(self, t: MT, to: int, **fields: object) -> None:
        fields.setdefault("term", self.term)
        self.msgs.append(Message(t, to=to, frm=self.id, **fields))  # type: ignore[arg-type]

    def _handle_vote_request(self, m: Message) -> None:
        """§5.2/§5.4.1: grant at most one vote per term, only to an up-to-date log."""
        can_vote = (self.vote == m.frm
                    or (self.vote == 0 and self.leader == 0)
                    or (m.type == MT.PRE_VOTE and m.term > self.term))
        resp = _RESPONSE_OF[m.type]
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            self._send(resp, m.frm, term=m.term)
            if m.type == MT.VOTE:
                self.election_elapsed = 0
                self.vote = m.frm
        else:
            self._send(resp, m.frm, reject=True)

    # ---- leader --------------------------------------------------------------

    def _step_leader(self, m: Message) -> None:
        t = m.type
        if t == MT.BEAT:
            self.bcast_heartbeat()
            self._prune_progress()
            return
        if t == MT.CHECK_QUORUM:
            if not self._quorum_active():
                self.become_follower(self.term, 0)
            return
        if t == MT.PROP:
            if self.lead_transferee:
                raise ProposalDropped("leadership transfer under way")
            if not m.entries:
                return
            self.append_entries(m.entries)
            self.bcast_append()
            return
        if t == MT.READ_INDEX:
            self._leader_read_index(m)
            return
        if t == MT.TRANSFER_LEADER:
            self._transfer_leader(m.index)
            return
        pr = self.prs.get(m.frm)
        if pr is None:
            return
        if t == MT.APP_RESP:
            self._handle_append_response(m, pr)
        elif t == MT.HEARTBEAT_RESP:
            self._handle_heartbeat_response(m, pr)
        elif t == MT.SNAP_STATUS:
            if pr.state != ProgressState.SNAPSHOT:
                return
            if m.reject:
                pr.pending_snapshot = 0
            pr.become_probe()
            pr.probe_sent = True  # wait for a heartbeat response before probing again
        elif t == MT.UNREACHABLE:
            if pr.state == ProgressState.REPLICATE:
                pr.become_probe()

    def append_entries(self, ents: Sequence[Entry]) -> None:
        """Leader: give proposals their term and index, append them, count our own ack."""
        log = self.log
        term = self.term
        index = log.last_index()
        new = [Entry(term, index + i, e.type, e.data) for i, e in enumerate(ents, 1)]
        self.append_new(new)

    def append_new(self, new: list[Entry]) -> None:
        """Append entries already numbered for this term (see ``append_entries``). The
        leader's own copy counts towards commit only once durable (``on_persisted``)."""
        self.log.append(new)
        self._sync_conf()

    def on_persisted(self, index: int, term: int) -> None:
        """The app made our log durable up to entry (``index``, ``term``): as leader, count
        our own copy (and tell followers at once if that commits something). An entry that
        was replaced meanwhile is not the one that became durable: it does not count."""
        if (self.role == Role.LEADER and self.log.match_term(index, term)
                and self.prs[self.id].maybe_update(index) and self.maybe_commit()):
            self.bcast_append()
            self._maybe_leave()

    def maybe_commit(self) -> bool:
        """§5.3/§5.4.2: commit the majority-replicated index if it is from our term."""
        if self.voters == (self.id,):
            mci = self.prs[self.id].match
        else:
            mci = quorum.committed_index(self.voters, {v: p.match for v, p in self.prs.items()})
        if not self.log.maybe_commit(mci, self.term):
            return False
        if self.pending_read_index and self._committed_in_current_term():
            pending, self.pending_read_index = self.pending_read_index, []
            for req in pending:
                self._leader_read_index(req)
        return True

    def _committed_in_current_term(self) -> bool:
        return self.log.match_term(self.log.committed, self.term)

    def send_append(self, to: int, send_if_empty: bool = True) -> bool:
        """Send ``to`` the entries it lacks (or a snapshot); False if nothing was sent."""
        pr = self.prs[to]
        if pr.is_paused():
            return False
        log = self.log
        if not send_if_empty and pr.next > log.last_index():
            return False  # nothing new for it: the common case after an ack
        prev = pr.next - 1
        try:
            prev_term = log.term(prev)
            ents = log.entries(pr.next, self.max_size_per_msg)
        except CompactedError:
            return self._send_snapshot(to, pr)
        if not ents and not send_if_empty:
            return False
        notice = not ents and pr.state == ProgressState.REPLICATE and pr.match == prev
        self.msgs.append(Message(MT.APP, to=to, frm=self.id, term=self.term, log_term=prev_term,
                                 index=prev, entries=tuple(ents), commit=log.committed,
                                 context=COMMIT_NOTICE if notice else b""))
        if ents:
            pr.sent_entries(ents[-1].index)
        return True

    def _send_snapshot(self, to: int, pr: Progress) -> bool:
        """§7: the follower needs entries we compacted; InstallSnapshot instead."""
        if not pr.recent_active:
            return False
        snap: Snapshot = self.log.snapshot()
        if snap.meta.index == 0:
            return False
        self.msgs.append(Message(MT.SNAP, to=to, frm=self.id, term=self.term, snapshot=snap))
        pr.become_snapshot(snap.meta.index)
        return True

    def bcast_append(self) -> None:
        """Send every follower what it lacks; a replicating one gets as many batches as its
        inflight window allows, not just one."""
        for v in self._peers():
            if self.send_append(v):
                if self.prs[v].state == ProgressState.REPLICATE:
                    while self.send_append(v, send_if_empty=False):
                        pass

    def bcast_heartbeat(self) -> None:
        """The periodic heartbeat. With reads waiting it is a read round for the newest of
        them (so a lost round holds reads back one heartbeat at most); otherwise it carries
        the lease's context, whose echo renews the read lease."""
        newest = self.read_only.last_pending_context()
        if newest is not None:
            self._send_read_round(newest)
        else:
            self._send_heartbeats(self.lease.context() if self.lease.enabled else b"")

    def _send_read_round(self, ctx: bytes) -> None:
        """Heartbeats carrying ``ctx``, the newest read queued: a majority's echo confirms it
        and every read queued before it (``ReadOnly.advance``)."""
        self.read_round, self.read_round_due = ctx, False
        self._send_heartbeats(ctx)

    def _send_heartbeats(self, ctx: bytes) -> None:
        for v in self._peers():
            # never tell a follower to commit beyond what it is known to hold
            commit = min(self.prs[v].match, self.log.committed)
            self.msgs.append(Message(MT.HEARTBEAT, to=v, frm=self.id, term=self.term,
                                     commit=commit, context=ctx))

    def _quorum_active(self) -> bool:
        """Were a majority of the voters heard from (learners do not count)?"""
        active = 0
        voters = set(self.voters)
        for v, pr in self.prs.items():
            if v in voters and (v == self.id or pr.recent_active):
                active += 1
            pr.recent_active = False
        return active >= quorum.majority(len(self.voters))

    def _handle_append_response(self, m: Message, pr: Progress) -> None:
        pr.recent_active = True
        if m.reject:
            # fast backtracking: jump over the follower's whole conflicting term at once
            next_probe = m.reject_hint
            if m.log_term > 0:
                next_probe, _ = self.log.find_conflict_by_term(m.reject_hint, m.log_term)
            if pr.maybe_decr_to(m.index, next_probe):
                if pr.state == ProgressState.REPLICATE:
                    pr.become_probe()
                self.send_append(m.frm)
            return
        was_paused = pr.is_paused()
        if not pr.maybe_update(m.index):
            return
        if pr.state == ProgressState.PROBE:
            pr.become_replicate()
        elif pr.state == ProgressState.SNAPSHOT and pr.match + 1 >= self.log.first_index():
            pr.become_probe()
            pr.become_replicate()
        elif pr.state == ProgressState.REPLICATE:
            pr.inflights.free_le(m.index)
        if self.maybe_commit():
            self.bcast_append()
        elif was_paused:
            self.send_append(m.frm)
        while self.send_append(m.frm, send_if_empty=False):
            pass
        if m.frm == self.lead_transferee and pr.match == self.log.last_index():
            self._order_campaign(m.frm)
        self._maybe_leave()

    def _handle_heartbeat_response(self, m: Message, pr: Progress) -> None:
        pr.recent_active = True
        pr.probe_sent = False
        if pr.state == ProgressState.REPLICATE and pr.inflights.full():
            pr.inflights.free_first_one()  # a lost append must not stall the pipeline forever
        if pr.match < self.log.last_index():
            self.send_append(m.frm)
        if not m.context or self.lease.acknowledged(m.context, m.frm, self.id, self.voters):
            return
        acks = self.read_only.recv_ack(m.frm, m.context)
        if acks is None or len(acks.intersection(self.voters)) < quorum.majority(len(self.voters)):
            return
        for rs in self.read_only.advance(m.context):
            self._answer_read(rs.req, rs.index)

    def _leader_read_index(self, m: Message) -> None:
        """§6.4: record the commit index, then confirm leadership with a heartbeat round."""
        if not self._committed_in_current_term():
            self.pending_read_index.append(m)  # wait for the election's empty entry to commit
            return
        if self.voters == (self.id,) or self.lease.holds():
            self._answer_read(m, self.log.committed)
            return
        self.read_only.add_request(self.log.committed, m)
        self.read_only.recv_ack(self.id, m.context)
        self.read_round_due = True  # one round for every read of this batch: start_read_round

    def start_read_round(self) -> None:
        """Confirm leadership once for all the reads that arrived since the last round: a
        heartbeat round carrying the newest request's context, sent after every one of them
        arrived, releases it and each request queued before it (``ReadOnly.advance``)."""
        if self.read_round_ready():
            self.read_round_due = False
            newest = self.read_only.last_pending_context()
            if self.role == Role.LEADER and newest is not None:
                self._send_read_round(newest)

    def read_round_ready(self) -> bool:
        """Reads wait for a round, and none is in flight: under load a round carries every
        read that arrived while the one before it was out (its heartbeats lost, the next
        periodic heartbeat carries the newest read)."""
        return self.read_round_due and self.read_round not in self.read_only.pending

    def _answer_read(self, req: Message, index: int) -> None:
        if req.frm in (0, self.id):
            self.read_states.append(ReadState(index, req.context))
        else:
            self._send(MT.READ_INDEX_RESP, req.frm, index=index, context=req.context)

    def _order_campaign(self, target: int) -> None:
        """TIMEOUT_NOW: ``target`` campaigns at once, overriding the followers' promise, so the
        read lease ends here for the rest of this term."""
        self.lease.revoke()
        self._send(MT.TIMEOUT_NOW, target)

    def _transfer_leader(self, target: int) -> None:
        """§3.10: catch the target up, then tell it to campaign at once (TIMEOUT_NOW)."""
        if target == self.id or target not in self.voters or target not in self.prs:
            return
        if self.lead_transferee == target:
            return
        self.lead_transferee = target
        self.election_elapsed = 0  # abort if it takes longer than an election timeout
        if self.prs[target].match == self.log.last_index():
            self._order_campaign(target)
        else:
            self.send_append(target)

    # ---- candidate --------------------------------------------------------------

    def _step_candidate(self, m: Message) -> None:
        t = m.type
        my_resp = MT.PRE_VOTE_RESP if self.role == Role.PRE_CANDIDATE else MT.VOTE_RESP
        if t == MT.PROP:
            raise ProposalDropped("no leader")
        if t == MT.APP:
            self.become_follower(m.term, m.frm)
            self._handle_append(m)
        elif t == MT.HEARTBEAT:
            self.become_follower(m.term, m.frm)
            self._handle_heartbeat(m)
        elif t == MT.SNAP:
            self.become_follower(m.term, m.frm)
            self._handle_snapshot(m)
        elif t == my_resp:
            res = self._poll(m.frm, not m.reject)
            if res == VoteResult.WON:
                self._won_election()
            elif res == VoteResult.LOST:
                self.become_follower(self.term, 0)

    # ---- follower ---------------------------------------------------------------

    def _step_follower(self, m: Message) -> None:
        t = m.type
        if t == MT.PROP:
            if self.leader == 0:
                raise ProposalDropped("no leader")
            self.msgs.append(Message(MT.PROP, to=self.leader, frm=self.id, entries=m.entries))
        elif t == MT.APP:
            self.election_elapsed = 0
            self.leader = m.frm
            self._handle_append(m)
        elif t == MT.HEARTBEAT:
            self.election_elapsed = 0
            self.leader = m.frm
            self._handle_heartbeat(m)
        elif t == MT.SNAP:
            self.election_elapsed = 0
            self.leader = m.frm
            self._handle_snapshot(m)
        elif t == MT.TRANSFER_LEADER:
            if self.leader:
                self.msgs.append(Message(MT.TRANSFER_LEADER, to=self.leader, frm=self.id,
                                         index=m.index))
        elif t == MT.TIMEOUT_NOW:
            if m.frm == self.leader:  # §3.10: only this term's leader hands its leadership over
                self.campaign(transfer=True)
        elif t == MT.READ_INDEX:
            if self.leader:
                self.msgs.append(Message(MT.READ_INDEX, to=self.leader, frm=self.id,
                                         context=m.context))
        elif t == MT.READ_INDEX_RESP:
            self.read_states.append(ReadState(m.index, m.context))

    def _handle_append(self, m: Message) -> None:
        """AppendEntries receiver (Figure 2), answering a mismatch with a backtracking hint."""
        log = self.log
        if m.index < log.committed:
            self._send(MT.APP_RESP, m.frm, index=log.committed)
            return
        last_new = log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        self._sync_conf()
        if last_new is not None:
            if m.entries or m.context != COMMIT_NOTICE:
                self._send(MT.APP_RESP, m.frm, index=last_new)
            return
        hint = min(m.index, log.last_index())
        hint, hint_term = log.find_conflict_by_term(hint, m.log_term)
        self._send(MT.APP_RESP, m.frm, index=m.index, reject=True, reject_hint=hint,
                   log_term=hint_term)

    def _handle_heartbeat(self, m: Message) -> None:
        self.log.commit_to(m.commit)
        self._send(MT.HEARTBEAT_RESP, m.frm, context=m.context)

    def _handle_snapshot(self, m: Message) -> None:
        snap = m.snapshot
        if snap is not None and self._restore(snap):
            self._send(MT.APP_RESP, m.frm, index=self.log.last_index())
        else:
            self._send(MT.APP_RESP, m.frm, index=self.log.committed)

    def _restore(self, snap: Snapshot) -> bool:
        """InstallSnapshot receiver: replace the log unless we already have what it covers."""
        meta = snap.meta
        if meta.index <= self.log.committed:
            return False
        if self.log.match_term(meta.index, meta.term):
            self.log.commit_to(meta.index)  # our log already contains it: just fast-forward
            return False
        self.log.restore(snap)
        self._apply_conf(self.log.confs.latest())
        return True
