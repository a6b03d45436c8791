"""The replicated auth table: users by token hash, roles of grants, prefix coverage."""

from __future__ import annotations

from hashlib import sha256

import pytest

from skylock.errors import BadRequest, NodeExists, NoNode
from skylock.state import StateMachine, commands
from skylock.state.auth import ROOT, Grant, Principal, covers

from .conftest import Driver


def h(token: str) -> str:
    return sha256(token.encode()).hexdigest()


def auth(op: str, **args: str) -> dict:
    return commands.auth("auth." + op, **args)


@pytest.fixture
def alice(d: Driver) -> Driver:
    """alice (token 'ta') has role 'app' = read /app, write /app/w, lock /locks/job-*."""
    d.ok(auth("user_add", name="alice", token_sha256=h("ta")))
    d.ok(auth("role_add", name="app"))
    d.ok(auth("role_grant", name="app", permission="read", prefix="/app"))
    d.ok(auth("role_grant", name="app", permission="write", prefix="/app/w"))
    d.ok(auth("role_grant", name="app", permission="lock", prefix="/locks/job-*"))
    d.ok(auth("user_grant_role", name="alice", role="app"))
    return d


@pytest.mark.parametrize("prefix,path,expected", [
    ("/", "/anything/at/all", True),
    ("/app", "/app", True),
    ("/app", "/app/x/y", True),
    ("/app", "/apple", False),
    ("/app", "/", False),
    ("/locks/job-*", "/locks/job-7", True),
    ("/locks/job-*", "/locks/jobs", False),
    ("/ap*", "/apple", True),
])
def test_a_prefix_covers_itself_and_what_lies_below_or_starts_with_it_when_starred(prefix, path, expected):
    assert covers(prefix, path) is expected


def test_a_user_is_found_by_the_hash_of_its_token_with_the_grants_of_its_roles(alice):
    view = alice.sm.auth_view()
    p = view.principal(h("ta"))
    assert p is not None and p.name == "alice"
    assert p.allows("read", "/app/x") and not p.allows("write", "/app/x") and p.allows("write", "/app/w/1")
    assert not p.allows("read", "/other") and not p.allows("read", "/apple")
    assert p.allows("lock", "/locks/job-1") and not p.allows("lock", "/locks/other")
    assert view.principal(h("wrong")) is None


def test_the_token_itself_is_never_stored(alice):
    assert b"ta" not in alice.sm.snapshot().replace(b"alice", b"")
    assert h("ta").encode() in alice.sm.snapshot()


def test_admin_implies_every_permission_on_its_prefix_and_root_may_do_anything():
    admin = Principal("a", (Grant("admin", "/team"),))
    assert admin.allows("write", "/team/x") and admin.allows("lock", "/team") and not admin.allows("read", "/")
    assert ROOT.allows("admin", "/") and ROOT.allows("write", "/x")


def test_revoking_a_role_or_a_grant_and_deleting_a_user_take_effect_in_the_next_view(alice):
    alice.ok(auth("role_revoke", name="app", permission="read", prefix="/app"))
    assert not alice.sm.auth_view().principal(h("ta")).allows("read", "/app/x")
    alice.ok(auth("user_revoke_role", name="alice", role="app"))
    assert alice.sm.auth_view().principal(h("ta")).grants == ()
    alice.ok(auth("user_delete", name="alice"))
    assert alice.sm.auth_view().principal(h("ta")) is None


def test_deleting_a_role_takes_it_from_its_users(alice):
    alice.ok(auth("role_delete", name="app"))
    assert alice.sm.auth_view().user_list() == [{"name": "alice", "roles": []}]
    assert alice.sm.auth_view().role_list() == []


def test_views_are_copies_that_later_changes_do_not_touch(alice):
    before = alice.sm.auth_view()
    alice.ok(auth("user_delete", name="alice"))
    assert before.principal(h("ta")) is not None
    with pytest.raises(TypeError):
        before.users["mallory"] = None  # type: ignore[index]


@pytest.mark.parametrize("cmd,error", [
    (auth("user_add", name="alice", token_sha256=h("other")), NodeExists),
    (auth("user_add", name="bob", token_sha256=h("ta")), NodeExists),  # one user per token
    (auth("user_add", name="root", token_sha256=h("x")), BadRequest),
    (auth("user_add", name="bad name", token_sha256=h("x")), BadRequest),
    (auth("user_add", name="bob", token_sha256="ta"), BadRequest),  # a token, not its hash
    (auth("user_delete", name="nobody"), NoNode),
    (auth("user_grant_role", name="alice", role="nope"), NoNode),
    (auth("user_revoke_role", name="alice", role="nope"), NoNode),
    (auth("role_add", name="app"), NodeExists),
    (auth("role_grant", name="app", permission="sudo", prefix="/"), BadRequest),
    (auth("role_grant", name="app", permission="read", prefix="app"), BadRequest),
    (auth("role_grant", name="app", permission="read", prefix="/a*b*"), BadRequest),
    (auth("role_revoke", name="app", permission="read", prefix="/nothere"), NoNode),
    (auth("role_delete", name="nope"), NoNode),
    ({"op": "auth.role_grant", "name": "app", "permission": "read"}, BadRequest),
])
def test_a_refused_change_changes_nothing(alice, cmd, error):
    alice.fails(cmd, error)


def test_auth_commands_are_not_allowed_inside_multi(d):
    d.fails(commands.multi([auth("role_add", name="r")], now_ms=1), BadRequest)


def test_the_table_survives_a_snapshot_and_changes_the_state_hash(alice):
    restored = StateMachine()
    restored.restore(alice.sm.snapshot())
    assert restored.state_hash() == alice.sm.state_hash()
    assert restored.auth_view().user_list() == alice.sm.auth_view().user_list()
    assert restored.auth_view().role_list() == alice.sm.auth_view().role_list()
    assert restored.auth_view().principal(h("ta")) == alice.sm.auth_view().principal(h("ta"))
    other = Driver()
    other.ok(commands.noop())
    assert other.sm.state_hash() != alice.sm.state_hash()


def test_a_format_2_snapshot_reads_as_an_empty_auth_table():
    import msgpack
    sm = StateMachine()
    state = msgpack.unpackb(sm.snapshot(), raw=False)
    state["format"] = 2
    del state["auth"]
    restored = StateMachine()
    restored.restore(msgpack.packb(state, use_bin_type=True))
    assert restored.auth_view().user_list() == [] and restored.last_zxid == 0
