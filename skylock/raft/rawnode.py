"""RawNode: the application's handle on the core, and the Ready batches it hands out.

The loop: ``while node.has_ready(): rd = node.ready(); persist; send; apply; node.advance(rd)``.
A Ready's messages may be sent only after its hard state, entries and snapshot are durable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .config import Config
from .core import ProposalDropped, Raft, ReadState
from .membership import ConfChange
from .progress import PeerProgress
from .storage import MemoryStorage
from .types import (ConfState, Entry, EntryType, HardState, Message, MessageType, Role, Snapshot,
                    numbers_in_range)

_LOCAL_TYPES = frozenset({MessageType.HUP, MessageType.BEAT, MessageType.CHECK_QUORUM,
                          MessageType.UNREACHABLE, MessageType.SNAP_STATUS})


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state worth telling the application about; never persisted."""

    leader: int
    role: Role


@dataclass(slots=True)
class Ready:
    """One batch of work for the application (see the module docstring for the order)."""

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    committed_entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)
    #: The messages may leave while ``entries`` are still being persisted (thesis 10.2.1): true
    #: only for a leader whose term and vote did not change, because a leader counts its own
    #: copy towards commit only once ``advance`` says it is durable. Otherwise persist first.
    send_before_persist: bool = False


@dataclass(frozen=True, slots=True)
class Status:
    id: int
    term: int
    vote: int
    role: Role
    leader: int
    commit: int
    applied: int
    last_index: int
    progress: dict[int, PeerProgress]  # leader only; empty otherwise
    #: the configuration in force (the latest in the log, maybe not committed yet)
    conf: ConfState = ConfState()


class RawNode:
    """A Raft peer driven synchronously by its owner (one thread)."""

    def __init__(self, config: Config, storage: MemoryStorage) -> None:
        self.raft = Raft(config, storage)
        self._prev_soft = self._soft_state()
        self._prev_hard = self._hard_state()

    # ---- inputs ----------------------------------------------------------------

    def tick(self) -> None:
        self.raft.tick()

    def suspend_lease(self) -> None:
        """Time passed that the ticks do not show (a pause): stop reading by lease until a
        majority acknowledges a heartbeat sent from now on (``ReadLease.suspend``)."""
        self.raft.lease.suspend()

    def campaign(self) -> None:
        self.raft.step(Message(MessageType.HUP, frm=self.raft.id))

    def step(self, msg: Message) -> None:
        """A message from a peer. Local-only types, and numbers the WAL cannot hold (a term
        of 2**63 or more), are refused with ValueError; the transport drops such frames
        first, this keeps them out of the hard state whoever calls. A forwarded proposal
        that cannot be taken is dropped silently (the proposer retries)."""
        if msg.type in _LOCAL_TYPES:
            raise ValueError(f"local message type {msg.type.name} cannot come from the network")
        if not numbers_in_range(msg):
            raise ValueError(f"{msg.type.name} from {msg.frm} carries a number outside 0..2**63-1")
        try:
            self.raft.step(msg)
        except ProposalDropped:
            pass

    def propose(self, data: bytes) -> None:
        self.propose_many((data,))

    def propose_many(self, datas: Iterable[bytes]) -> None:
        """Propose entries as one batch; raises ProposalDropped with no leader or mid-transfer."""
        r = self.raft
        if r.role == Role.LEADER and not r.lead_transferee:
            # fast path: number the entries once, skipping the PROP message
            first = r.log.last_index() + 1
            term = r.term
            new = [Entry(term, i, EntryType.NORMAL, d) for i, d in enumerate(datas, first)]
            if not new:
                return
            r.append_new(new)
            r.bcast_append()
            return
        ents = tuple(Entry(0, 0, EntryType.NORMAL, d) for d in datas)
        if ents:
            r.step(Message(MessageType.PROP, frm=r.id, entries=ents))

    def read_index(self, ctx: bytes) -> None:
        """Ask for a linearizable read point; a ReadState(index, ctx) comes in a later Ready.
        Dropped silently when there is no leader: time out and retry."""
        self.raft.step(Message(MessageType.READ_INDEX, frm=self.raft.id, context=ctx))

    def propose_conf_change(self, cc: ConfChange) -> None:
        """Leader only: append the single-server change ``cc`` (in force at once, see
        ``membership``); raises ``ConfChangeRefused`` saying why it cannot be made now."""
        self.raft.propose_conf_change(cc)

    def conf_state(self) -> ConfState:
        """The configuration in force: the latest in the log, committed or not."""
        return self.raft.conf

    def conf_state_at(self, index: int) -> ConfState:
        """The configuration once the log up to ``index`` is applied: what a snapshot at
        ``index`` must record (final for a committed ``index``)."""
        return self.raft.log.confs.at(index)

    def committed_conf_state(self) -> ConfState:
        """The configuration of the committed log: a member it drops is gone for good."""
        return self.raft.log.confs.at(self.raft.log.committed)

    def transfer_leadership(self, to_id: int) -> None:
        self.raft.step(Message(MessageType.TRANSFER_LEADER, frm=self.raft.id, index=to_id))

    def report_unreachable(self, peer_id: int) -> None:
        self.raft.step(Message(MessageType.UNREACHABLE, frm=peer_id))

    def report_snapshot(self, peer_id: int, ok: bool) -> None:
        self.raft.step(Message(MessageType.SNAP_STATUS, frm=peer_id, reject=not ok))

    # ---- outputs ----------------------------------------------------------------

    def _soft_state(self) -> SoftState:
        return SoftState(self.raft.leader, self.raft.role)

    def _hard_state(self) -> HardState:
        r = self.raft
        return HardState(r.term, r.vote, r.log.committed)

    def has_ready(self) -> bool:
        r = self.raft
        if r.msgs or r.read_states or r.read_round_ready():
            return True
        u = r.log.unstable
        if u.snapshot is not None and not u.snapshot_in_progress:
            return True
        if u.in_progress < u.offset + len(u.entries):
            return True
        if r.log.has_next_committed_entries():
            return True
        if (r.leader, r.role) != (self._prev_soft.leader, self._prev_soft.role):
            return True
        p = self._prev_hard
        return (r.term, r.vote, r.log.committed) != (p.term, p.vote, p.commit)

    def ready(self) -> Ready:
        """The next batch; what it hands out is not handed out again."""
        r = self.raft
        r.start_read_round()
        log = r.log
        u = log.unstable
        rd = Ready(entries=u.to_persist(), messages=r.msgs, read_states=r.read_states)
        if u.snapshot is not None and not u.snapshot_in_progress:
            rd.snapshot = u.snapshot
        committed = log.next_committed_entries()
        rd.committed_entries = committed
        if committed:
            log.applying = committed[-1].index
        soft = self._soft_state()
        if soft != self._prev_soft:
            rd.soft_state = self._prev_soft = soft
        hard = self._hard_state()
        prev = self._prev_hard
        if hard != prev:
            rd.hard_state = self._prev_hard = hard
        rd.send_before_persist = (r.role == Role.LEADER and rd.snapshot is None
                                  and (hard.term, hard.vote) == (prev.term, prev.vote))
        u.accept()
        r.msgs = []
        r.read_states = []
        return rd

    def advance(self, rd: Ready) -> None:
        """The application persisted, sent and applied ``rd``."""
        log = self.raft.log
        if rd.snapshot is not None:
            log.unstable.stable_snap_to(rd.snapshot.meta.index)
            if rd.snapshot.meta.index > log.applied:
                log.applied = rd.snapshot.meta.index
                log.applying = max(log.applying, log.applied)
        if rd.entries:
            last = rd.entries[-1]
            log.unstable.stable_to(last.index, last.term)
            self.raft.on_persisted(last.index, last.term)
        if rd.committed_entries:
            log.applied_to(rd.committed_entries[-1].index)

    def status(self) -> Status:
        r = self.raft
        progress = ({v: p.view() for v, p in r.prs.items()} if r.role == Role.LEADER else {})
        return Status(r.id, r.term, r.vote, r.role, r.leader, r.log.committed, r.log.applied,
                      r.log.last_index(), progress, r.conf)
