"""multi: all ops or none, per-op results, failing index reported."""

from skylock.errors import BadRequest, BadVersion, NodeExists, NoNode, NotOwner
from skylock.state import EventType, commands

from .conftest import content


def test_multi_applies_all_ops_and_returns_per_op_results(d):
    d.ok(d.create("/a", b"0"))
    result = d.ok(commands.multi([
        commands.check("/a", version=0),
        commands.create("/a/b", b"x", now_ms=0),
        commands.set_data("/a", b"1", now_ms=0),
        commands.delete("/a/b"),
    ], now_ms=77))
    stat = d.sm.exists("/a")
    assert [list(r) for r in result["results"]] == [[], ["path", "stat"], ["stat"], []]
    assert result["results"][1]["path"] == "/a/b"
    assert result["results"][2]["stat"]["version"] == stat.version == 1
    assert d.sm.get("/a")[0] == b"1"
    assert d.sm.exists("/a/b") is None


def test_multi_ops_use_the_multi_timestamp(d):
    d.ok(commands.multi([commands.create("/a", now_ms=1)], now_ms=555))
    assert d.sm.exists("/a").ctime == 555


def test_multi_emits_events_of_every_op_with_one_zxid(d):
    applied = d.apply(commands.multi([d.create("/a"), d.create("/a/b")], now_ms=1))
    assert [(e.type, e.path, e.zxid) for e in applied.events] == [
        (EventType.CREATED, "/a", 1), (EventType.CHILDREN_CHANGED, "/", 1),
        (EventType.CREATED, "/a/b", 1), (EventType.CHILDREN_CHANGED, "/a", 1),
    ]


def test_failed_multi_changes_nothing_and_reports_index(d):
    d.ok(d.create("/a", b"0"))
    err = d.fails(commands.multi([
        d.create("/a/b"),
        d.set("/a", b"changed"),
        d.create("/q"),
        d.create("/q/", sequential=True),
        commands.delete("/a", version=9),
    ], now_ms=1), BadVersion)
    assert err.details["index"] == 4


def test_failed_multi_restores_parent_stat_and_sequence_counter(d):
    d.ok(d.create("/q"))
    before = d.sm.exists("/q")
    d.fails(commands.multi([d.create("/q/n-", sequential=True), d.create("/q/n-", sequential=True),
                            commands.check("/nope")], now_ms=1), NoNode)
    assert d.sm.exists("/q") == before
    assert d.ok(d.create("/q/n-", sequential=True))["path"] == "/q/n-0000000000"


def test_failed_multi_restores_deleted_nodes_and_ephemerals(d):
    d.open("s1")
    d.ok(d.create("/e", b"v", ephemeral=True, session_id="s1"))
    snapshot = content(d.sm)
    d.fails(commands.multi([commands.delete("/e"), d.create("/e2", ephemeral=True, session_id="s1"),
                            d.create("/e2")], now_ms=1), NodeExists)
    assert content(d.sm) == snapshot
    assert d.sm.session("s1")["ephemerals"] == ["/e"]


def test_ops_later_in_a_multi_see_earlier_ones(d):
    d.ok(commands.multi([d.create("/a"), commands.check("/a", version=0), d.set("/a", b"x", version=0),
                         commands.check("/a", version=1)], now_ms=1))


def test_check_fails_on_missing_node_or_wrong_version(d):
    d.ok(d.create("/a"))
    d.fails(commands.multi([commands.check("/b")], now_ms=1), NoNode)
    assert d.fails(commands.multi([commands.check("/a", version=5)], now_ms=1), BadVersion).details["index"] == 0


def test_empty_multi_succeeds_with_no_results(d):
    assert d.ok(commands.multi([], now_ms=1)) == {"results": []}


def test_session_and_lock_ops_are_not_allowed_inside_multi(d):
    for inner in [commands.multi([], now_ms=1), commands.open_session("s", "c", 10, now_ms=1),
                  commands.lock_acquire("l", session_id="s", owner="o", request_id="r", now_ms=1), commands.noop()]:
        err = d.fails(commands.multi([d.create("/x"), inner], now_ms=1), BadRequest)
        assert err.details["index"] == 1


def test_malformed_op_inside_multi_is_badrequest_with_index(d):
    err = d.fails(commands.multi([d.create("/x"), {"op": "create"}], now_ms=1), BadRequest)
    assert err.details["index"] == 1
    assert d.fails(commands.multi(["junk"], now_ms=1), BadRequest).details["index"] == 0


def test_check_lock_guards_a_write_with_the_fencing_token(d):
    d.open("s1")
    d.open("s2")
    lock = d.acquire("db", "s1")
    d.ok(d.create("/res"))
    d.ok(commands.multi([commands.check_lock("db", token=lock["token"], session_id="s1"),
                         d.set("/res", b"by s1")], now_ms=1))
    d.fails(commands.multi([commands.check_lock("db", token=lock["token"], session_id="s2"),
                            d.set("/res", b"by s2")], now_ms=1), NotOwner)


def test_check_lock_with_a_stale_token_fails_after_regrant(d):
    d.open("s1")
    old = d.acquire("db", "s1")
    d.ok(commands.lock_release("db", session_id="s1", lock_id=old["lock_id"]))
    new = d.acquire("db", "s1", request_id="r2")
    assert new["token"] > old["token"]
    d.fails(commands.multi([commands.check_lock("db", token=old["token"], session_id="s1")], now_ms=1), NotOwner)
    d.ok(commands.multi([commands.check_lock("db", token=new["token"], session_id="s1")], now_ms=1))


def test_check_lock_by_a_waiter_or_on_an_unknown_lock_fails(d):
    d.open("s1")
    d.open("s2")
    d.acquire("db", "s1")
    waiter = d.acquire("db", "s2")
    d.fails(commands.multi([commands.check_lock("db", token=waiter["token"], session_id="s2")], now_ms=1), NotOwner)
    d.fails(commands.multi([commands.check_lock("other", token=1, session_id="s1")], now_ms=1), NotOwner)
