"""The proposal table: every command this node puts through the log, until it commits.

RaftNode owns it and alone touches it, on its own thread. A proposal is proposed again every
``RETRY_SECONDS`` until one copy commits: a proposal forwarded to a leader that dies, or over a
link that is down, is otherwise lost silently, and the Store applies each (origin, tag) once
(``state.AppliedTags``), so a retry never applies twice. Tags never repeat, not even across
restarts of this node (a restarted node re-applies what it proposed before): a random 62-bit
start per incarnation makes a collision practically impossible.

When its entry commits, a proposal leaves the table and its waiter (a client request, or an
actor's callback) travels with the committed entry to the Store, which answers it right after
applying it: the reply needs no further hop. A waiting proposal past its deadline fails with
``Timeout`` (the write may still happen: the client learns its effect is unknown, as with any
Raft or ZooKeeper write whose reply was lost). A proposal with no waiter (a session expiry, a
lock cancel) is proposed until it commits, or, for a leader's duty, until this node stops leading.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass
from typing import Iterable

from skylock.actors.messages import Propose, Waiter
from skylock.raft import Entry, EntryType
from skylock.state.envelope import encode_entry

RETRY_SECONDS = 1.0


@dataclass(slots=True)
class _Proposal:
    data: bytes
    waiter: Waiter | None
    deadline: float | None
    leader_only: bool
    retry_at: float


class ProposalTable:
    def __init__(self, node_id: int, retry_seconds: float = RETRY_SECONDS) -> None:
        self.node_id = node_id
        self.retry_seconds = retry_seconds
        self._tags = itertools.count(random.getrandbits(62))
        #: tag -> proposal, in the order they are due for a retry
        self._table: dict[int, _Proposal] = {}
        #: entry data -> tag: a committed entry is found by its bytes, without decoding it (the
        #: data holds this node's id and the tag, so it names one proposal of one incarnation)
        self._tag_of: dict[bytes, int] = {}
        #: (deadline, tag) of the waiting proposals, earliest first
        self._deadlines: list[tuple[float, int]] = []

    def __len__(self) -> int:
        return len(self._table)

    def add(self, msg: Propose, now: float) -> tuple[int, bytes]:
        """Remember ``msg``; returns its tag and the entry data to propose."""
        tag = next(self._tags)
        data = encode_entry(self.node_id, tag, msg.command)
        self._table[tag] = _Proposal(data, msg.waiter, msg.deadline, msg.leader_only, now + self.retry_seconds)
        self._tag_of[data] = tag
        if msg.deadline is not None:
            heapq.heappush(self._deadlines, (msg.deadline, tag))
        return tag, data

    def committed(self, entries: Iterable[Entry]) -> dict[int, Waiter]:
        """Take the committed entries this node proposed out of the table: entry index -> its waiter."""
        waiters: dict[int, Waiter] = {}
        if not self._table:
            return waiters
        for entry in entries:
            tag = self._tag_of.get(entry.data) if entry.type == EntryType.NORMAL else None
            if tag is None:
                continue  # another node's, a retry's second copy, or an earlier incarnation's
            proposal = self._pop(tag)
            if proposal.waiter is not None:
                waiters[entry.index] = proposal.waiter
        return waiters

    def refused(self, tags: Iterable[int]) -> list[Waiter]:
        """First attempts the core dropped (no leader): they were never proposed, so their waiters
        can hear ``NoLeader`` now. Proposals without a waiter stay for their retry."""
        waiters = []
        for tag in tags:
            proposal = self._table.get(tag)
            if proposal is not None and proposal.waiter is not None:
                self._pop(tag)
                waiters.append(proposal.waiter)
        return waiters

    def due(self, now: float) -> tuple[list[bytes], list[Waiter]]:
        """The entry data to propose again, and the waiters whose deadline passed."""
        expired = []
        while self._deadlines and self._deadlines[0][0] <= now:
            _, tag = heapq.heappop(self._deadlines)
            proposal = self._pop(tag) if tag in self._table else None
            if proposal is not None and proposal.waiter is not None:
                expired.append(proposal.waiter)
        retry = []
        for tag, proposal in self._table.items():
            if proposal.retry_at > now:
                break
            retry.append(tag)
        for tag in retry:  # to the back of the line, due again in retry_seconds
            proposal = self._table.pop(tag)
            proposal.retry_at = now + self.retry_seconds
            self._table[tag] = proposal
        return [self._table[tag].data for tag in retry], expired

    def not_leading(self) -> None:
        """This node stopped leading: a leader's duties (``Propose.leader_only``) are dropped;
        whoever leads now does them."""
        for tag in [t for t, p in self._table.items() if p.leader_only]:
            self._pop(tag)

    def _pop(self, tag: int) -> _Proposal:
        proposal = self._table.pop(tag)
        del self._tag_of[proposal.data]
        return proposal
