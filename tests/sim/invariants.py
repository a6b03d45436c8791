"""The safety properties of Raft, checked incrementally as the cluster runs.

Every check fires at the moment the state it is about changes (an entry is
persisted, a commit index moves, a node becomes leader, an entry is applied,
a read completes), which is the same as checking the whole cluster after
every step but costs O(change) instead of O(cluster):

- Election safety: at most one leader per term, over the whole run.
- Log matching: each (index, term) ever stored anywhere maps to one entry
  and one predecessor term; by induction two logs that share (index, term)
  are identical up to there.
- Commitment rule (5.4.2): a leader moves its commit index only onto an
  entry of its own term (older entries get committed indirectly).
- Leader completeness: an entry committed while the observing node was at
  term T is in the log of every leader of a term > T, at the same index/term.
- State machine safety: nodes apply the same entry at every index (a hash
  chain over the applied prefix makes "prefix of one another" a per-index
  equality), snapshots carry the same chain, and a committed entry is what
  gets applied there (no acknowledged proposal lost).
- ReadIndex: a ReadState's index is >= every commit index acknowledged
  anywhere before the read was requested.
- Membership: election safety above holds across configurations (terms are
  global); a leader's log never holds more than one uncommitted configuration
  entry; consecutive configurations differ by at most one voter (the disk
  model checks that); a leader commits an index only once a majority of the
  *voters* of its configuration acknowledged it (learners' acks never make a
  quorum); a learner, or a node that knows its removal is committed, never
  campaigns.
"""

from __future__ import annotations

from skylock.raft import Entry
from skylock.raft.quorum import majority


class InvariantViolation(AssertionError):
    """A Raft safety property broke; the message names it."""


class Checker:
    """Global knowledge of the run, updated by the simulated nodes."""

    def __init__(self) -> None:
        #: term -> the one node that led it
        self.leaders: dict[int, int] = {}
        #: node id -> term, for nodes that are leader right now
        self.current_leaders: dict[int, int] = {}
        #: (index, term) -> (type, data, term of the previous entry)
        self.links: dict[tuple[int, int], tuple[int, bytes, int]] = {}
        #: index -> (term, data, lowest term of a node that saw it committed)
        self.committed: dict[int, tuple[int, bytes, int]] = {}
        self.max_commit = 0
        #: index -> (term, data, chain hash after applying it)
        self.applied: dict[int, tuple[int, bytes, bytes]] = {}
        #: read context -> the commit index it must not be below
        self.read_floor: dict[bytes, int] = {}
        self.reads_done = 0
        self.elections = 0
        #: node id -> Disk, filled by the cluster so live leaders can be re-checked
        self.disks: dict = {}
        #: (leader id, term) -> {node id: highest index it acknowledged to that leader}
        self.acks: dict[tuple[int, int], dict[int, int]] = {}
        self.conf_changes = 0

    # ---- membership --------------------------------------------------------------

    def on_ack(self, leader: int, term: int, frm: int, index: int) -> None:
        """An APP_RESP accepting up to ``index`` was delivered to ``leader`` at ``term``."""
        seen = self.acks.setdefault((leader, term), {})
        if index > seen.get(frm, 0):
            seen[frm] = index

    def on_commit_notice(self, leader: int, term: int, follower: int, index: int) -> None:
        """A commit notice (an append its follower accepts without answering) is sent only to
        a follower whose ack up to its index reached that leader in that term: otherwise the
        leader would be waiting for an answer that never comes."""
        acked = self.acks.get((leader, term), {}).get(follower, 0)
        if acked < index:
            raise InvariantViolation(
                f"commit notice: leader {leader} of term {term} sent node {follower} a notice at "
                f"index {index}, but only acks up to {acked} from it were delivered")

    def on_leader_commit(self, node_id: int, term: int, disk, new: int) -> None:
        """Counted from the acks delivered, independently of the core's progress."""
        voters = disk.latest_conf().voters
        seen = self.acks.get((node_id, term), {})
        have = [v for v in voters if (v == node_id and disk.last_index >= new) or seen.get(v, 0) >= new]
        if len(have) < majority(len(voters)):
            raise InvariantViolation(
                f"quorum: leader {node_id} of term {term} committed {new} with acks from voters "
                f"{have} of {voters} (acks seen: {seen}): learners or non-members counted")

    def on_appended_as_leader(self, node_id: int, term: int, disk) -> None:
        if disk.uncommitted_confs() > 1:
            raise InvariantViolation(
                f"one change at a time: leader {node_id} of term {term} holds "
                f"{disk.uncommitted_confs()} uncommitted configuration entries")

    def on_campaign(self, node_id: int, term: int, disk) -> None:
        """Only a voter of its latest configuration, or of its committed one (a removal
        not known to be committed: the node may be needed to commit it), campaigns."""
        latest, committed = disk.latest_conf(), disk.conf_at(disk.hard_state.commit)
        if node_id not in latest.voters and node_id not in committed.voters:
            raise InvariantViolation(
                f"node {node_id} campaigned at term {term} but is a voter neither of its latest "
                f"configuration {latest} nor of its committed one {committed}: learners and "
                f"nodes that know they were removed must not campaign")

    # ---- election safety + leader completeness -------------------------------

    def on_leader(self, node_id: int, term: int, disk) -> None:
        other = self.leaders.setdefault(term, node_id)
        if other != node_id:
            raise InvariantViolation(f"election safety: nodes {other} and {node_id} both led term {term}")
        self.elections += 1
        self.current_leaders[node_id] = term
        for index, (eterm, _data, cterm) in self.committed.items():
            if cterm < term:
                self._leader_has(node_id, term, disk, index, eterm)

    def on_not_leader(self, node_id: int) -> None:
        self.current_leaders.pop(node_id, None)

    def _leader_has(self, node_id: int, term: int, disk, index: int, eterm: int) -> None:
        if index <= disk.snapshot.meta.index:
            return  # compacted into its snapshot, which the chain check covers
        have = disk.term(index)
        if have != eterm:
            raise InvariantViolation(
                f"leader completeness: leader {node_id} of term {term} has term {have} at "
                f"index {index}, but an entry of term {eterm} was committed there")

    # ---- log matching ---------------------------------------------------------

    def on_persisted(self, node_id: int, linked: list[tuple[Entry, int]]) -> None:
        links = self.links
        for e, prev_term in linked:
            key = (e.index, e.term)
            val = (int(e.type), e.data, prev_term)
            old = links.setdefault(key, val)
            if old != val:
                raise InvariantViolation(
                    f"log matching: node {node_id} stores index {e.index} term {e.term} as "
                    f"{val!r}, another log has {old!r}")

    # ---- commitment -------------------------------------------------------------

    def on_commit(self, node_id: int, term: int, disk, old: int, new: int,
                  as_leader: bool = False) -> None:
        """``node_id`` (at ``term``) moved its durable commit index from old to new."""
        lo = max(old, disk.snapshot.meta.index)
        if new > disk.last_index:
            raise InvariantViolation(
                f"node {node_id} commit {new} beyond its last index {disk.last_index}")
        if as_leader and disk.term(new) != term:
            raise InvariantViolation(
                f"commitment rule (5.4.2): leader {node_id} of term {term} committed index {new} "
                f"of term {disk.term(new)} by counting replicas")
        committed = self.committed
        for index in range(lo + 1, new + 1):
            e = disk.entry(index)
            prev = committed.get(index)
            if prev is None:
                committed[index] = (e.term, e.data, term)
                for lid, lterm in self.current_leaders.items():
                    if lterm > term and lid != node_id:
                        self._leader_has_live(lid, lterm, index, e.term)
            elif prev[0] != e.term or prev[1] != e.data:
                raise InvariantViolation(
                    f"commit safety: node {node_id} committed ({e.term}, {e.data!r}) at {index}, "
                    f"earlier ({prev[0]}, {prev[1]!r}) was committed there")
            elif term < prev[2]:
                committed[index] = (prev[0], prev[1], term)
        if new > self.max_commit:
            self.max_commit = new

    def _leader_has_live(self, lid: int, lterm: int, index: int, eterm: int) -> None:
        disk = self.disks[lid]
        self._leader_has(lid, lterm, disk, index, eterm)

    # ---- state machine safety ----------------------------------------------------

    def on_apply(self, node_id: int, e: Entry, chain: bytes) -> None:
        val = (e.term, e.data, chain)
        old = self.applied.setdefault(e.index, val)
        if old != val:
            raise InvariantViolation(
                f"state machine safety: node {node_id} applied ({e.term}, {e.data!r}) at "
                f"{e.index}, another node applied ({old[0]}, {old[1]!r}) (or a different prefix)")
        c = self.committed.get(e.index)
        if c is not None and (c[0] != e.term or c[1] != e.data):
            raise InvariantViolation(
                f"lost commit: node {node_id} applied ({e.term}, {e.data!r}) at {e.index} where "
                f"({c[0]}, {c[1]!r}) was committed")

    def on_snapshot_applied(self, node_id: int, index: int, term: int, chain: bytes) -> None:
        old = self.applied.get(index)
        if old is None:
            raise InvariantViolation(
                f"node {node_id} installed a snapshot at {index} that no node has applied")
        if old[0] != term or old[2] != chain:
            raise InvariantViolation(
                f"state machine safety: node {node_id} installed a snapshot at {index} "
                f"(term {term}) whose state differs from what nodes applied there")

    # ---- ReadIndex -----------------------------------------------------------------

    def on_read_requested(self, ctx: bytes) -> None:
        self.read_floor[ctx] = self.max_commit

    def on_read_state(self, node_id: int, index: int, ctx: bytes) -> None:
        floor = self.read_floor.get(ctx)
        if floor is None:
            raise InvariantViolation(f"node {node_id} returned a ReadState for unknown ctx {ctx!r}")
        if index < floor:
            raise InvariantViolation(
                f"read index: node {node_id} answered read {ctx!r} at index {index}, but "
                f"index {floor} was committed before the read was requested")
        self.reads_done += 1
