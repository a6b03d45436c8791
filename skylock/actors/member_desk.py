"""The RaftNode's membership desk: member ops from clients, and the configuration
turned into peers the transport can reach.

Runs on the RaftNode actor's thread (it is a plain object the actor owns). Changes are
taken on the leader only (a follower answers ``NoLeader`` with the leader's address, so
the client moves on) and answered once their CONF entry is committed, or ``Timeout``
at the request's deadline. After every Ready, ``sync`` gives the peer transport the
members of the latest configuration plus those of the committed one (a member being
removed keeps receiving until its removal commits, so it learns about it).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from skylock.actors.members import Address, describe, encode_member, member_table
from skylock.actors.messages import MemberRequest, ReplyTo
from skylock.actors.outbox import Outbox
from skylock.errors import BadRequest, NoLeader, Timeout
from skylock.raft import (ConfChange, ConfChangeRefused, ConfChangeType as CT, ConfState, Entry,
                          EntryType, RawNode, Role)

log = logging.getLogger("skylock.members")

#: ``fn({peer id: peer address})``: the peers to keep connections to (the transport's ``set_peers``)
SetPeers = Callable[[dict[int, str]], None]

_CHANGES = {"member.add": CT.ADD_LEARNER, "member.promote": CT.PROMOTE, "member.remove": CT.REMOVE}


@dataclass(slots=True)
class _Waiting:
    reply: ReplyTo
    term: int
    deadline: float


class MemberDesk:
    def __init__(self, node_id: int, node: RawNode, outbox: Outbox, members: dict[int, Address],
                 set_peers: SetPeers | None, request_timeout: float) -> None:
        """``members`` is the RaftNode's table (id -> addresses), updated here in place;
        its content at start (the config file's members) fills gaps in old configurations."""
        self.node_id = node_id
        self.node = node
        self.outbox = outbox
        self.members = members
        self.fallback = dict(members)
        self.set_peers = set_peers
        self.request_timeout = request_timeout
        self._seen: tuple[ConfState, ConfState] | None = None
        self._waiting: dict[int, _Waiting] = {}

    # ---- client ops ------------------------------------------------------------------

    def on_request(self, msg: MemberRequest, leader_hint: str | None) -> None:
        try:
            if msg.op == "member.list":
                self.outbox.ok(msg.reply, self.listing())
            elif msg.op == "leader.transfer":
                self._transfer(msg, leader_hint)
            else:
                self._change(msg, leader_hint)
        except (BadRequest, NoLeader) as err:
            self.outbox.error(msg.reply, err)

    def listing(self) -> dict[str, Any]:
        s = self.node.status()
        return {"leader": s.leader, "term": s.term,
                "members": describe(self.node.conf_state(), self.members, s.leader)}

    def _leader_only(self, leader_hint: str | None) -> None:
        if self.node.status().role != Role.LEADER:
            raise NoLeader("membership changes are made on the leader", leader=leader_hint)

    def _change(self, msg: MemberRequest, leader_hint: str | None) -> None:
        self._leader_only(leader_hint)
        args = msg.args
        ctx = encode_member(args) if msg.op == "member.add" else b""
        try:
            self.node.propose_conf_change(ConfChange(_CHANGES[msg.op], args["id"], ctx))
        except ConfChangeRefused as exc:
            raise BadRequest(f"{msg.op} {args['id']} refused: {exc}") from None
        s = self.node.status()
        self._waiting[s.last_index] = _Waiting(msg.reply, s.term, time.monotonic() + self.request_timeout)
        log.info("node=%s proposed %s %s at index %s", self.node_id, msg.op, args["id"], s.last_index)

    def _transfer(self, msg: MemberRequest, leader_hint: str | None) -> None:
        self._leader_only(leader_hint)
        s = self.node.status()
        target = msg.args["id"] or self._best_voter(s)
        if target == self.node_id:
            self.outbox.ok(msg.reply, {"leader": self.node_id, "transferee": target})
            return
        if target not in self.node.conf_state().voters:
            raise BadRequest(f"node {target} is not a voter: leadership goes to voters only")
        self.node.transfer_leadership(target)
        self.outbox.ok(msg.reply, {"leader": self.node_id, "transferee": target})

    def _best_voter(self, s: Any) -> int:
        others = [v for v in self.node.conf_state().voters if v != self.node_id]
        if not others:
            raise BadRequest("no other voter to hand leadership to")
        return max(others, key=lambda v: s.progress[v].match if v in s.progress else 0)

    # ---- after every Ready ---------------------------------------------------------------

    def on_committed(self, entries: list[Entry]) -> None:
        """Answer the changes proposed here whose entries are now committed."""
        for e in entries:
            waiting = self._waiting.pop(e.index, None) if self._waiting else None
            if waiting is None:
                continue
            if e.type == EntryType.CONF and e.term == waiting.term:
                self.outbox.ok(waiting.reply, self.listing())
            else:
                self.outbox.error(waiting.reply, NoLeader("leadership changed before the change committed: retry"))

    def expire(self, now: float) -> None:
        for index in [i for i, w in self._waiting.items() if w.deadline <= now]:
            waiting = self._waiting.pop(index)
            self.outbox.error(waiting.reply, Timeout("the membership change did not commit in time"))

    def sync(self) -> None:
        """Follow the configuration: the member table, and the transport's peers."""
        latest, committed = self.node.conf_state(), self.node.committed_conf_state()
        if self._seen == (latest, committed) or not (latest.voters or latest.learners):
            return  # unchanged, or a joining node not yet told: it keeps its file's peers
        self._seen = (latest, committed)
        table = member_table(latest, self.fallback)
        reachable = {**member_table(committed, self.fallback), **table}
        self.members.clear()
        self.members.update(table)
        if self.set_peers is not None:
            self.set_peers({i: a["peer_address"] for i, a in reachable.items() if i != self.node_id})
        log.info("node=%s configuration: voters=%s learners=%s", self.node_id, list(latest.voters),
                 list(latest.learners))
