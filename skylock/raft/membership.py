"""Membership: single-server configuration changes (Raft thesis, chapter 4).

A configuration (``ConfState``) names the voters, the learners (members that receive
the log but neither vote nor count toward a quorum) and an opaque context per member
(the application's description of it, e.g. its addresses). A change adds one learner,
promotes one learner to voter, or removes one member: any two consecutive
configurations then share a majority of voters, so no two leaders can be elected in
one term across a change (thesis 4.1).

A ``CONF`` entry carries the whole new configuration, not the delta, so a peer that
replays the log from an empty state (a joining node) learns the full membership from
the first configuration entry it sees. ``ConfLog`` tracks the configurations found in
the log: a peer uses the latest one, committed or not (the thesis rule), and falls
back to the previous one when a conflicting tail is truncated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from .types import ConfState, Entry, EntryType, decode_conf_state


class ConfChangeType(IntEnum):
    ADD_LEARNER = 0
    PROMOTE = 1
    REMOVE = 2


@dataclass(frozen=True, slots=True)
class ConfChange:
    """One single-server change; ``context`` describes a new learner (ADD_LEARNER only)."""

    type: ConfChangeType
    node_id: int
    context: bytes = b""


class ConfChangeRefused(Exception):
    """The change cannot be proposed now (not the leader, another change pending, an
    invalid change); nothing was appended. The message says why."""


def members(conf: ConfState) -> tuple[int, ...]:
    """Every member of ``conf``: voters and learners, sorted."""
    return tuple(sorted((*conf.voters, *conf.learners)))


def context_of(conf: ConfState, node_id: int) -> bytes:
    for nid, ctx in conf.contexts:
        if nid == node_id:
            return ctx
    return b""


def apply_change(conf: ConfState, cc: ConfChange) -> ConfState:
    """The configuration after ``cc``; raises ConfChangeRefused for an invalid change."""
    nid = cc.node_id
    if nid <= 0:
        raise ConfChangeRefused(f"member id must be a positive integer, got {nid}")
    voters, learners = set(conf.voters), set(conf.learners)
    contexts = dict(conf.contexts)
    if cc.type == ConfChangeType.ADD_LEARNER:
        if nid in voters or nid in learners:
            raise ConfChangeRefused(f"node {nid} is already a member")
        learners.add(nid)
        if cc.context:
            contexts[nid] = cc.context
    elif cc.type == ConfChangeType.PROMOTE:
        if nid in voters:
            raise ConfChangeRefused(f"node {nid} is already a voter")
        if nid not in learners:
            raise ConfChangeRefused(f"node {nid} is not a learner: add it first")
        learners.discard(nid)
        voters.add(nid)
    elif cc.type == ConfChangeType.REMOVE:
        if nid not in voters and nid not in learners:
            raise ConfChangeRefused(f"node {nid} is not a member")
        if voters == {nid}:
            raise ConfChangeRefused(f"node {nid} is the last voter: it cannot be removed")
        voters.discard(nid)
        learners.discard(nid)
        contexts.pop(nid, None)
    else:
        raise ConfChangeRefused(f"unknown change type {cc.type!r}")
    return make_conf(voters, learners, contexts)


def make_conf(voters: Iterable[int], learners: Iterable[int] = (),
              contexts: dict[int, bytes] | None = None) -> ConfState:
    """A ConfState in canonical form (sorted ids, contexts of members only)."""
    v, lr = tuple(sorted(voters)), tuple(sorted(learners))
    keep = set(v) | set(lr)
    ctx = tuple(sorted((k, c) for k, c in (contexts or {}).items() if k in keep and c))
    return ConfState(v, lr, ctx)


class ConfLog:
    """The configurations in a peer's log: ``(index, conf)`` in index order, starting
    with the one its snapshot (or bootstrap) holds. Entries at or below the commit index
    never change, so ``at(index)`` for a committed index is final."""

    __slots__ = ("_confs",)

    def __init__(self, base_index: int, base: ConfState, entries: Sequence[Entry] = ()) -> None:
        self._confs: list[tuple[int, ConfState]] = [(base_index, base)]
        self.add(entries)

    def reset(self, index: int, conf: ConfState) -> None:
        """A snapshot replaced the log."""
        self._confs = [(index, conf)]

    def truncate_from(self, index: int) -> None:
        """Entries from ``index`` on are being replaced: forget their configurations."""
        while len(self._confs) > 1 and self._confs[-1][0] >= index:
            self._confs.pop()

    def add(self, entries: Iterable[Entry]) -> None:
        for e in entries:
            if e.type == EntryType.CONF:
                self._confs.append((e.index, decode_conf_state(e.data)))

    def latest(self) -> ConfState:
        return self._confs[-1][1]

    def latest_index(self) -> int:
        """Index of the entry holding the latest configuration (the snapshot's if none)."""
        return self._confs[-1][0]

    def at(self, index: int) -> ConfState:
        """The configuration in force once the log up to ``index`` is applied."""
        found = self._confs[0][1]
        for i, conf in self._confs:
            if i > index:
                break
            found = conf
        return found
