"""Sessions: open is idempotent; close and expire remove ephemerals and lock entries atomically."""

from skylock.errors import SessionExpired
from skylock.state import EventType, WatchEvent, commands


def test_open_session_registers_it(d):
    opened = d.ok(commands.open_session("s1", "c1", 5000, now_ms=1))
    assert opened == {"session_id": "s1", "public_id": f"{d.zxid:016x}", "ttl_ms": 5000}
    assert d.sm.session("s1") == {"session_id": "s1", "public_id": opened["public_id"], "client_id": "c1",
                                  "ttl_ms": 5000, "ephemerals": []}
    assert d.sm.sessions() == [d.sm.session("s1")]


def test_open_session_is_idempotent_and_returns_the_existing_session(d):
    first = d.ok(commands.open_session("s1", "c1", 5000, now_ms=1))
    assert d.ok(commands.open_session("s1", "other", 9999, now_ms=2)) == first
    assert d.sm.session("s1")["client_id"] == "c1"


def test_open_session_rejects_nonpositive_ttl_and_empty_id(d):
    from skylock.errors import BadRequest
    d.fails(commands.open_session("s1", "c", 0, now_ms=1), BadRequest)
    d.fails(commands.open_session("", "c", 10, now_ms=1), BadRequest)


def test_close_session_deletes_its_ephemerals_and_emits_events(d):
    d.open("s1")
    d.open("s2")
    d.ok(d.create("/a"))
    d.ok(d.create("/a/e1", ephemeral=True, session_id="s1"))
    d.ok(d.create("/e2", ephemeral=True, session_id="s1"))
    d.ok(d.create("/other", ephemeral=True, session_id="s2"))
    public = d.public("s1")
    applied = d.apply(commands.close_session("s1"))
    z = d.zxid
    assert applied.error is None
    assert applied.result["deleted"] == ["/a/e1", "/e2"]
    assert applied.events == [
        WatchEvent(EventType.DELETED, "/a/e1", z), WatchEvent(EventType.CHILDREN_CHANGED, "/a", z, child="e1"),
        WatchEvent(EventType.DELETED, "/e2", z), WatchEvent(EventType.CHILDREN_CHANGED, "/", z, child="e2"),
        WatchEvent(EventType.SESSION_CLOSED, "", z, session_id=public, reason="closed"),  # never the secret
    ]
    assert d.sm.session("s1") is None
    assert d.sm.exists("/other") is not None


def test_close_of_unknown_session_is_sessionexpired(d):
    d.fails(commands.close_session("ghost"), SessionExpired)


def test_expire_removes_several_sessions_in_one_entry(d):
    for sid in ["s1", "s2", "s3"]:
        d.open(sid)
        d.ok(d.create("/" + sid, ephemeral=True, session_id=sid))
    p1, p2 = d.public("s1"), d.public("s2")
    applied = d.apply(commands.expire_session(["s2", "s1"]))
    assert applied.result["sessions"] == [p2, p1]
    closed = [e for e in applied.events if e.type is EventType.SESSION_CLOSED]
    assert [(e.session_id, e.reason) for e in closed] == [(p2, "expired"), (p1, "expired")]
    assert {e.zxid for e in applied.events} == {d.zxid}
    assert d.sm.children("/")[0] == ["s3"]
    assert [s["session_id"] for s in d.sm.sessions()] == ["s3"]


def test_expire_of_unknown_or_repeated_ids_is_ignored(d):
    public = d.open("s1")["public_id"]
    result = d.ok(commands.expire_session(["ghost", "s1", "s1"]))
    assert result["sessions"] == [public]
    assert d.ok(commands.expire_session(["s1"])) == {"sessions": [], "deleted": [], "lock_grants": []}


def test_expired_session_cannot_create_ephemerals_or_be_closed(d):
    d.open("s1")
    d.ok(commands.expire_session(["s1"]))
    d.fails(d.create("/e", ephemeral=True, session_id="s1"), SessionExpired)
    d.fails(commands.close_session("s1"), SessionExpired)


def test_expire_releases_locks_and_reports_the_next_holder(d):
    d.open("s1")
    d.open("s2")
    first = d.acquire("db", "s1")
    second = d.acquire("db", "s2")
    d.acquire("other", "s1")
    p2 = d.public("s2")
    result = d.ok(commands.expire_session(["s1"]))
    assert result["lock_grants"] == [{"name": "db", "holder": {
        "entry": second["entry"], "owner": "s2", "session": p2, "token": second["token"]}}]
    assert d.sm.lock_info("db")["holder"]["session"] == p2
    assert d.sm.lock_info("other")["holder"] is None
    assert result["deleted"][0].endswith("/" + first["entry"])


def test_session_reopened_after_expiry_is_a_fresh_session(d):
    d.open("s1")
    d.ok(d.create("/e", ephemeral=True, session_id="s1"))
    d.ok(commands.expire_session(["s1"]))
    d.open("s1")
    assert d.sm.session("s1")["ephemerals"] == []


S1, S2 = "secret-of-session-one", "secret-of-session-two"


def test_session_list_shows_public_ids_ephemerals_and_locks_never_secrets(d):
    d.ok(commands.open_session(S1, "web", 5000, now_ms=1))
    d.ok(commands.open_session(S2, "batch", 9000, now_ms=1))
    d.ok(d.create("/svc"))
    d.ok(d.create("/svc/web", ephemeral=True, session_id=S1))
    held = d.acquire("jobs", S1)
    d.acquire("jobs", S2, request_id="r2")
    listed = d.sm.session_list()
    assert [s["public_id"] for s in listed] == [d.public(S1), d.public(S2)]
    first, second = listed
    assert first == {"public_id": d.public(S1), "client_id": "web", "ttl_ms": 5000,
                     "ephemerals": ["/svc/web"],
                     "locks": [{"name": "jobs", "entry": held["lock_id"].split(".")[0], "token": held["token"],
                                "held": True}]}
    assert second["ephemerals"] == [] and [lk["held"] for lk in second["locks"]] == [False]
    assert S1 not in repr(listed) and S2 not in repr(listed)  # the secrets stay secret


def test_drop_sessions_ends_every_session_and_its_ephemerals_without_a_new_zxid(d):
    """What a restore does to a backup's sessions: their clients are gone with the old cluster."""
    d.open("s1")
    d.open("s2")
    d.ok(d.create("/app"))
    d.ok(d.create("/app/e", ephemeral=True, session_id="s1"))
    d.acquire("job", "s2")
    d.acquire("job", "s1", request_id="r2")  # a waiter
    zxid = d.sm.last_zxid
    dropped = d.sm.drop_sessions()
    assert len(dropped["sessions"]) == 2 and "/app/e" in dropped["deleted"]
    assert d.sm.sessions() == [] and d.sm.last_zxid == zxid
    assert d.sm.children("/app")[0] == [] and d.sm.children("/locks/job")[0] == []
    assert d.sm.exists("/app").pzxid == zxid  # stamped at the snapshot's zxid, not after it
    assert d.ok(d.create("/after"))["stat"]["czxid"] == zxid + 1
