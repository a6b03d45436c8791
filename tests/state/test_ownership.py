"""Ownership cannot be forged from public data: the session id and the lock id are bearer
secrets; the tree, lock info and events show only a public session id and an entry name."""

import msgpack
import pytest

from skylock.errors import BadRequest, NotOwner, SessionExpired
from skylock.state import StateMachine, commands, locks

SECRET = "5f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5"
OTHER = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def held(d):
    """SECRET holds lock ``db``, OTHER waits on it and owns an ephemeral; returns the grant."""
    d.open(SECRET)
    d.open(OTHER)
    grant = d.acquire("db", SECRET, owner="worker")
    d.acquire("db", OTHER, owner="waiter")
    d.ok(d.create("/svc", ephemeral=True, session_id=SECRET))
    return grant


def everything_public(d) -> list[object]:
    """All that any client can read: every node's data and stat, lock info, and events."""
    seen: list[object] = []
    stack = ["/"]
    while stack:
        path = stack.pop()
        data, stat = d.sm.get(path)
        names, _ = d.sm.children(path)
        seen += [path, data, stat.to_wire(), names]
        stack.extend(path.rstrip("/") + "/" + n for n in names)
    seen.append(d.sm.lock_info("db"))
    return seen


def test_public_data_never_contains_a_secret_or_a_lock_id(d, held):
    public = repr(everything_public(d))
    assert SECRET not in public and OTHER not in public
    assert held["lock_id"] not in public and held["entry"] in public
    closed = d.apply(commands.close_session(OTHER))
    assert OTHER not in repr([e.to_wire() for e in closed.events]) and OTHER not in repr(closed.result)


def test_lock_info_shows_entry_owner_public_session_and_token(d, held):
    holder = d.sm.lock_info("db")["holder"]
    assert holder == {"entry": held["entry"], "owner": "worker", "session": d.public(SECRET),
                      "token": held["token"]}
    data, _ = d.sm.get("/locks/db/" + held["entry"])
    assert msgpack.unpackb(data) == {"owner": "worker", "session": d.public(SECRET), "request_id": "r1"}


def test_the_public_id_is_the_open_entrys_zxid_and_differs_per_session(d):
    first = d.open(SECRET)["public_id"]
    assert first == f"{d.zxid:016x}"
    assert d.open(OTHER)["public_id"] == f"{d.zxid:016x}" != first


@pytest.mark.parametrize("session_id", [None, SECRET])
def test_the_full_lock_id_releases_with_or_without_the_owners_session(d, held, session_id):
    assert d.ok(commands.lock_release("db", session_id=session_id, lock_id=held["lock_id"]))["released"] == held["lock_id"]
    assert d.sm.lock_info("db")["holder"]["session"] == d.public(OTHER)


def test_what_others_can_read_never_releases_the_lock(d, held):
    entry, public = held["entry"], d.public(SECRET)
    forged = [
        (None, entry),  # the entry name lock.info shows (the seed's REST shape)
        (public, entry),  # ... with the public session id
        (SECRET, entry),  # even the owner's secret needs the lock id the acquire returned
        (None, entry + "." + "0" * 32),  # a made-up mac
        (None, entry + "."),
        (OTHER, held["lock_id"]),  # another session presenting a stolen-looking lock id
        (public, held["lock_id"]),
    ]
    for session_id, lock_id in forged:
        d.fails(commands.lock_release("db", session_id=session_id, lock_id=lock_id), NotOwner)
    assert d.sm.lock_info("db")["holder"]["token"] == held["token"]


def test_a_lock_id_is_bound_to_its_lock_and_entry(d, held):
    d.acquire("other", SECRET)
    # db's lock id used on lock "other" (whose entry has the same name) does not release it
    d.fails(commands.lock_release("other", session_id=SECRET, lock_id=held["lock_id"]), NotOwner)
    waiter = d.sm.lock_info("db")["waiters"][0]["entry"]
    mac = held["lock_id"].split(".")[1]
    d.fails(commands.lock_release("db", session_id=None, lock_id=f"{waiter}.{mac}"), NotOwner)


def test_malformed_lock_id_is_badrequest(d, held):
    for bad in ["../x", "lock-1", held["lock_id"] + "/x", held["entry"] + ".XYZ"]:
        d.fails(commands.lock_release("db", session_id=None, lock_id=bad), BadRequest)


def test_public_id_cannot_close_create_ephemerals_or_check_a_lock(d, held):
    public = d.public(SECRET)
    d.fails(commands.close_session(public), SessionExpired)
    d.fails(d.create("/mine", ephemeral=True, session_id=public), SessionExpired)
    d.fails(commands.lock_acquire("db2", session_id=public, owner="o", request_id="r", now_ms=1), SessionExpired)
    check = commands.check_lock("db", token=held["token"], session_id=public)
    d.fails(commands.multi([check, d.create("/fenced")], now_ms=1), NotOwner)
    check = commands.check_lock("db", token=held["token"], session_id=SECRET)
    d.ok(commands.multi([check, d.create("/fenced")], now_ms=1))
    assert d.sm.session(SECRET) is not None


@pytest.mark.parametrize("bad", ["", "has space", "x" * 129, "nul\x00", "é"])
def test_malformed_session_ids_are_badrequest(d, bad):
    d.open(SECRET)
    d.fails(commands.close_session(bad), BadRequest)
    d.fails(d.create("/e", ephemeral=True, session_id=bad), BadRequest)
    d.fails(commands.open_session(bad, "c", 1000, now_ms=1), BadRequest)
    with pytest.raises(BadRequest):
        d.sm.session(bad)


def test_snapshot_keeps_public_ids_and_lock_ids_stay_valid(d, held):
    restored = StateMachine()
    restored.restore(d.sm.snapshot())
    assert restored.sessions() == d.sm.sessions()
    assert restored.lock_info("db") == d.sm.lock_info("db")
    assert restored.apply(d.zxid + 1, commands.lock_release("db", session_id=None, lock_id=held["lock_id"])).error is None


def test_a_snapshot_of_the_previous_format_is_refused():
    old = msgpack.packb({"format": 1, "last_zxid": 1, "nodes": [], "sessions": [["s1", "c", 1000]]})
    with pytest.raises(BadRequest, match="unsupported snapshot format 1"):
        StateMachine().restore(old)


def test_lock_id_for_is_what_the_acquire_returned(d, held):
    assert held["lock_id"] == locks.lock_id_for(SECRET, "db", held["entry"])
    assert len(held["lock_id"].split(".")[1]) == locks.MAC_HEX_DIGITS
