"""The simulator has teeth: break one Raft safety rule in the core, and it must notice.

Each test monkeypatches the core with a known-unsafe variant and runs seeds until
the simulator reports a violation, failing if none does within a bound. A
simulator that passes a broken core proves nothing about a correct one.
"""

from __future__ import annotations

import dataclasses

import pytest

from skylock.raft import ConfChangeRefused, MessageType
from skylock.raft.core import COMMIT_NOTICE, Raft
from skylock.raft.progress import ProgressState
from skylock.raft.lease import ReadLease
from skylock.raft.log import RaftLog

from .cluster import Cluster, SimFailure, plan, run_seed
from .faults import ACTIONS
from .invariants import InvariantViolation


def _commit_any_term(self: RaftLog, index: int, term: int) -> bool:
    """maybe_commit without the 5.4.2 check that the entry is from the leader's term."""
    if index > self.committed:
        self.commit_to(index)
        return True
    return False


def _always_up_to_date(self: RaftLog, last_index: int, last_term: int) -> bool:
    """Grant votes without comparing logs (5.4.1's election restriction gone)."""
    return True


def _first_violation(max_seeds: int, config_of=None) -> tuple[int, str]:
    for seed in range(max_seeds):
        try:
            if config_of is None:
                run_seed(seed)
            else:
                Cluster(seed, config_of(seed)).run()
        except SimFailure as exc:
            return seed, f"{type(exc.cause).__name__}: {exc.cause}"
        except InvariantViolation as exc:
            return seed, f"InvariantViolation: {exc}"
    pytest.fail(f"no violation found in {max_seeds} seeds: the simulator missed a broken core")


def test_commit_of_previous_term_entry_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RaftLog, "maybe_commit", _commit_any_term)
    seed, why = _first_violation(200)
    print(f"commit-by-counting of an old-term entry caught at seed {seed}: {why}")
    assert "commitment rule" in why or "completeness" in why or "safety" in why


def _figure8_config(seed: int):
    """Crash-heavy 3-node runs: leaders die right after persisting (before sending),
    one entry per AppendEntries, restarts and partitions only. That is the paper's
    Figure 8 recipe: divergent uncommitted tails, then an old-term entry reaching a
    majority under a newer leader, who dies before its own entry spreads."""
    cfg = plan(seed, n_nodes=3)
    weights = tuple({"restart": 3, "heal_net": 1, "partition": 1}.get(a, 0) for a in ACTIONS)
    params = dataclasses.replace(cfg.params, max_size_per_msg=1, max_inflight_msgs=4)
    return dataclasses.replace(cfg, params=params, crash_leader_p=0.3, fault_rate=0.2,
                               fault_weights=weights)


def test_commit_of_previous_term_entry_loses_committed_data(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end, without the commitment-rule check: the broken rule must show up as a
    committed entry missing from a later leader (or nodes applying different entries)."""
    monkeypatch.setattr(RaftLog, "maybe_commit", _commit_any_term)
    from . import invariants

    real_on_commit = invariants.Checker.on_commit

    def on_commit_without_rule(self, node_id, term, disk, old, new, as_leader=False):
        return real_on_commit(self, node_id, term, disk, old, new, False)

    monkeypatch.setattr(invariants.Checker, "on_commit", on_commit_without_rule)
    seed, why = _first_violation(5000, _figure8_config)
    print(f"Figure 8 reproduced at seed {seed}: {why}")
    assert "completeness" in why or "safety" in why or "lost commit" in why


def test_vote_without_log_check_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RaftLog, "is_up_to_date", _always_up_to_date)
    seed, why = _first_violation(200)
    print(f"vote without the up-to-date check caught at seed {seed}: {why}")
    assert "completeness" in why or "safety" in why or "matching" in why or "commit" in why


def _membership_config(seed: int):
    """Membership-heavy runs: changes at a high rate among partitions and crashes."""
    cfg = plan(seed)
    weights = tuple({"member": 8, "partition": 2, "heal_net": 2, "crash": 1, "restart": 3,
                     "crash_leader": 1}.get(a, 0) for a in ACTIONS)
    return dataclasses.replace(cfg, fault_rate=0.2, fault_weights=weights)


def test_learner_counted_toward_quorum_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from skylock.raft import core

    real = core.quorum.committed_index
    monkeypatch.setattr(core.quorum, "committed_index", lambda voters, match: real(list(match), match))
    seed, why = _first_violation(300, _membership_config)
    print(f"learner counted toward commit caught at seed {seed}: {why}")
    assert "quorum" in why or "safety" in why or "completeness" in why


def test_two_uncommitted_changes_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from skylock.raft.core import Raft
    from skylock.raft.membership import apply_change
    from skylock.raft.types import Entry, EntryType, encode_conf_state

    def propose_without_the_one_at_a_time_rule(self, cc) -> None:
        if self.role != 3:
            raise ConfChangeRefused("not the leader")
        new = apply_change(self.conf, cc)
        self.append_entries([Entry(0, 0, EntryType.CONF, encode_conf_state(new))])
        self.bcast_append()

    monkeypatch.setattr(Raft, "propose_conf_change", propose_without_the_one_at_a_time_rule)
    seed, why = _first_violation(300, _membership_config)
    print(f"two uncommitted changes caught at seed {seed}: {why}")
    assert "one change at a time" in why or "more than one voter" in why or "safety" in why


def _lease_config(seed: int):
    """Every run reads by lease (check-quorum on), on clocks that keep time."""
    cfg = plan(seed)
    e = cfg.params.election_tick
    return dataclasses.replace(cfg, params=dataclasses.replace(
        cfg.params, check_quorum=True, lease_ticks=e - 2, clock_skew=0.0))


def test_a_lease_that_never_ends_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deposed leader that keeps reading by a lease no acknowledgement bounds (and, so that
    nothing else ends its reign, never steps down for want of a quorum) serves stale reads."""
    monkeypatch.setattr(ReadLease, "holds", lambda self: self.enabled and not self.revoked)
    monkeypatch.setattr(Raft, "_quorum_active", lambda self: True)
    seed, why = _first_violation(1000, _lease_config)
    print(f"a lease without an end caught at seed {seed}: {why}")
    assert "read index" in why


def _notice_whenever_replicating(self: Raft, to: int, send_if_empty: bool = True) -> bool:
    """send_append that marks every empty append to a replicating follower a commit notice,
    even with entries still in flight (the follower then holds less than the leader thinks)."""
    pr = self.prs[to]
    sent = real_send_append(self, to, send_if_empty)
    if sent and self.msgs and self.msgs[-1].type == MessageType.APP and not self.msgs[-1].entries \
            and pr.state == ProgressState.REPLICATE:
        self.msgs[-1] = dataclasses.replace(self.msgs[-1], context=COMMIT_NOTICE)
    return sent


real_send_append = Raft.send_append


def test_a_commit_notice_to_a_follower_not_known_to_hold_it_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Raft, "send_append", _notice_whenever_replicating)
    seed, why = _first_violation(300)
    print(f"a notice ahead of the acks caught at seed {seed}: {why}")
    assert "commit notice" in why


def test_reads_held_behind_a_lost_round_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A leader that waits for its read round in flight, while its periodic heartbeats stop
    carrying the newest read, waits forever once that round is lost: later reads starve."""

    def heartbeat_without_reads(self: Raft) -> None:
        self._send_heartbeats(b"")  # the read rounds themselves still go out

    monkeypatch.setattr(Raft, "bcast_heartbeat", heartbeat_without_reads)
    seed, why = _first_violation(200)
    print(f"reads starved behind a lost round caught at seed {seed}: {why}")
    assert "liveness" in why and "reads answered" in why
