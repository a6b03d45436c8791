"""The gateway's access check: tokens to principals, ops to the grants they need."""

from __future__ import annotations

from hashlib import sha256

import pytest

from skylock.actors.access import Access, needs
from skylock.errors import PermissionDenied, Unauthenticated
from skylock.state import StateMachine, commands

ROOT_TOKEN = "r" * 20


def h(token: str) -> str:
    return sha256(token.encode()).hexdigest()


def machine_with(*grants: tuple[str, str]) -> StateMachine:
    sm = StateMachine()
    cmds = [commands.auth("auth.user_add", name="u", token_sha256=h("tu")), commands.auth("auth.role_add", name="r"),
            *[commands.auth("auth.role_grant", name="r", permission=p, prefix=x) for p, x in grants],
            commands.auth("auth.user_grant_role", name="u", role="r")]
    for zxid, cmd in enumerate(cmds, 1):
        assert sm.apply(zxid, cmd).error is None
    return sm


@pytest.fixture
def access() -> Access:
    a = Access(enabled=True, root_token_sha256=h(ROOT_TOKEN))
    a.publish(machine_with(("read", "/app"), ("lock", "/locks/a")).auth_view())
    return a


def test_open_mode_allows_everything_without_a_token():
    assert Access(enabled=False).check(None, "auth.role_add", {"name": "r"}) is None


def test_ping_needs_no_token_and_everything_else_does(access):
    assert access.check(None, "ping", {}) is None
    with pytest.raises(Unauthenticated):
        access.check(None, "session.open", {"client_id": "c"})
    with pytest.raises(Unauthenticated):
        access.check("nobody's", "get", {"path": "/app"})


def test_root_may_do_anything_and_users_what_their_grants_cover(access):
    assert access.check(ROOT_TOKEN, "auth.user_delete", {"name": "u"}).root
    assert access.check("tu", "get", {"path": "/app/x"}).name == "u"
    assert access.check("tu", "lock.info", {"name": "a"}).name == "u"
    for op, args in [("set", {"path": "/app/x"}), ("get", {"path": "/apple"}), ("lock.acquire", {"name": "b"}),
                     ("auth.user_list", {}), ("debug.state_hash", {}), ("snapshot.begin", {}),
                     ("snapshot.chunk", {"export_id": "e", "offset": 0}),
                     ("multi", {"ops": [{"op": "check", "path": "/app"}, {"op": "delete", "path": "/app/x"}]})]:
        with pytest.raises(PermissionDenied):
            access.check("tu", op, args)


def test_a_sequential_create_is_checked_on_the_path_it_will_write():
    assert needs("create", {"path": "/q/n-", "sequential": True})[0].path == "/q/n-0000000000"


def test_a_published_view_replaces_the_cached_principals(access):
    assert access.check("tu", "get", {"path": "/app"}) is not None
    sm = machine_with(("read", "/app"))
    sm.apply(10, commands.auth("auth.user_delete", name="u"))
    access.publish(sm.auth_view())
    with pytest.raises(Unauthenticated):
        access.check("tu", "get", {"path": "/app"})


def test_listing_sessions_needs_read_on_the_whole_tree(access):
    """session.list names every session's ephemerals, wherever they are."""
    assert access.check(ROOT_TOKEN, "session.list", {}).root
    with pytest.raises(PermissionDenied):
        access.check("tu", "session.list", {})  # read on /app only
    reader = Access(enabled=True)
    reader.publish(machine_with(("read", "/")).auth_view())
    assert reader.check("tu", "session.list", {}).name == "u"
