"""The promise checkers on hand-made histories: each must flag its violation."""

from __future__ import annotations

from tests.checker.history import OK, UNKNOWN, History, Op
from tests.checker.promises import check_durability, check_locks, check_sessions, check_watches, extended_deadline
from tests.checker.recheck import recheck


def grant(h: History, p: str, acquired: float, released, token: int, name: str = "L") -> None:
    h.ops.append(Op(p, "lock", name, None, {"acquired": acquired, "released": released, "token": token},
                    acquired - 0.1, acquired, OK))


def test_locks_disjoint_and_increasing_tokens_pass():
    h = History()
    grant(h, "a", 1.0, 2.0, 10)
    grant(h, "b", 2.5, 3.0, 12)
    grant(h, "c", 1.5, 1.8, 3, name="other")
    assert check_locks(h) == []


def test_locks_overlap_is_flagged():
    h = History()
    grant(h, "a", 1.0, 2.0, 10)
    grant(h, "b", 1.5, 3.0, 12)
    assert any("while a held it" in v for v in check_locks(h))


def test_lock_never_released_holds_forever():
    h = History()
    grant(h, "a", 1.0, None, 10)
    grant(h, "b", 5.0, 6.0, 12)
    assert check_locks(h)


def test_lock_holder_whose_session_expired_stops_holding():
    h = History()
    grant(h, "a", 1.0, None, 10)
    h.events.append({"kind": "session_expired", "process": "a", "t": 4.0})
    grant(h, "b", 5.0, 6.0, 12)
    assert check_locks(h) == []


def test_fencing_tokens_must_increase():
    h = History()
    grant(h, "a", 1.0, 2.0, 10)
    grant(h, "b", 2.5, 3.0, 10)
    assert any("not increasing" in v for v in check_locks(h))


def test_session_deadline_extends_over_faults():
    assert extended_deadline(0.0, 2.0, [], 1.0) == 2.0
    assert extended_deadline(0.0, 2.0, [{"start": 1.0, "end": 3.0}], 1.0) == 5.0
    assert extended_deadline(0.0, 2.0, [{"start": 9.0, "end": 10.0}], 1.0) == 2.0


def test_sessions_checker():
    h = History()
    h.events += [{"kind": "abandoned", "process": "s1", "ttl": 1.0, "last_heartbeat": 0.0, "path": "/e1", "t": 0},
                 {"kind": "ephemeral_gone", "process": "s1", "t": 1.5},
                 {"kind": "abandoned", "process": "s2", "ttl": 1.0, "last_heartbeat": 0.0, "path": "/e2", "t": 0},
                 {"kind": "ephemeral_gone", "process": "s2", "t": 9.0},
                 {"kind": "abandoned", "process": "s3", "ttl": 1.0, "last_heartbeat": 0.0, "path": "/e3", "t": 0},
                 {"kind": "live_session", "process": "l1", "t": 0},
                 {"kind": "session_expired", "process": "l1", "t": 3.0}]
    v = check_sessions(h, check_interval=0.05, margin=0.5)
    assert len(v) == 3
    assert "s2" in v[0] and "never removed" in v[1] and "l1" in v[2]


def watch_history(events, acked):
    h = History()
    for path, zxid in acked:
        h.ops.append(Op("w", "set", path, "v", {"mzxid": zxid}, 0, 1, OK))
    h.ops.append(Op("w", "set", "/w/b", "v", None, 0, float("inf"), UNKNOWN))
    h.events += [{"kind": "watch_event", "watcher": "c", "type": t, "path": p, "zxid": z, "t": 0}
                 for t, p, z in events]
    return h


def test_watches_complete_stream_passes():
    assert check_watches(watch_history([("data_changed", "/w/a", 5), ("data_changed", "/w/b", 6)],
                                       [("/w/a", 5), ("/w/b", 6)])) == []


def test_watches_lost_duplicate_and_reordered_events_are_flagged():
    lost = check_watches(watch_history([("data_changed", "/w/a", 5)], [("/w/a", 5), ("/w/b", 6)]))
    assert any("never delivered" in v for v in lost)
    dup = check_watches(watch_history([("data_changed", "/w/a", 5)] * 2, [("/w/a", 5)]))
    assert any("2 times" in v for v in dup)
    order = check_watches(watch_history([("data_changed", "/w/b", 6), ("data_changed", "/w/a", 5)],
                                        [("/w/a", 5), ("/w/b", 6)]))
    assert any("out of order" in v for v in order)


def test_watches_after_resync_are_not_judged():
    assert check_watches(watch_history([("data_changed", "/w/a", 5), ("resync", "/w", 5)],
                                       [("/w/a", 5), ("/w/b", 6)])) == []


def test_durability_checker_and_offline_recheck(tmp_path):
    h = History()
    h.ops += [Op("c", "create", "/d/1", None, None, 0, 1, OK), Op("c", "create", "/d/2", None, None, 0, 1, OK),
              Op("c", "create", "/d/3", None, None, 0, float("inf"), UNKNOWN)]
    assert check_durability(h, {"/d/1", "/d/2"}) == []
    assert check_durability(h, {"/d/1"}) == ["acknowledged create /d/2 lost after whole-cluster restart"]
    h.meta["present"] = ["/d/1"]
    assert recheck(History.load(h.dump(tmp_path / "h.json"))) != []


def test_watches_owe_only_writes_invoked_after_registration():
    h = watch_history([("data_changed", "/w/b", 6)], [("/w/a", 5), ("/w/b", 6)])
    h.ops[0].call = 0.0  # /w/a@5 was invoked before the watcher registered
    for o in h.ops[1:]:
        o.call = 2.0
    h.events.append({"kind": "watch_registered", "watcher": "c", "t": 1.0, "from_zxid": None})
    assert check_watches(h) == []
