"""Secure mode's authorization, on a real 3-node cluster with ``auth.enabled`` in its configs:
tokens, roles and grants are replicated, enforced on every node, and survive restarts."""

from __future__ import annotations

from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest

from skylock.client import Client
from skylock.errors import PermissionDenied, Unauthenticated
from tests.integration.cluster import LocalCluster, running_cluster, wait_until

ROOT_TOKEN = "root-token-for-tests-0123456789"
BOB_TOKEN = "bob-token-0123456789abcdef"


def secure_sections(**extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"auth": {"enabled": True, "root_token_sha256": sha256(ROOT_TOKEN.encode()).hexdigest()}, **extra}


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path, sections=secure_sections(), token=ROOT_TOKEN) as c:
        yield c


def add_user(root: Client, name: str, token: str, *grants: tuple[str, str]) -> None:
    """User ``name`` with one role of its own holding ``grants``."""
    root.call("auth.user_add", name=name, token=token)
    root.call("auth.role_add", name=f"{name}-role")
    for permission, prefix in grants:
        root.call("auth.role_grant", name=f"{name}-role", permission=permission, prefix=prefix)
    root.call("auth.user_grant_role", name=name, role=f"{name}-role")


def denied(fn: Any, error: type = PermissionDenied) -> None:
    with pytest.raises(error):
        fn()


def test_without_a_valid_token_every_op_but_ping_is_unauthenticated(secure: LocalCluster) -> None:
    for token in (None, "not-anybodys-token-at-all"):
        anon = secure.client(token=token)
        assert "node_id" in anon.call("ping")
        for op, args in [
            ("get", {"path": "/"}), ("children", {"path": "/"}), ("create", {"path": "/x"}),
            ("set", {"path": "/", "data": b"x"}), ("multi", {"ops": []}),
            ("watch.add", {"path": "/", "kind": "recursive"}),
            ("delete", {"path": "/x"}), ("session.open", {"client_id": "c"}),
            ("session.heartbeat", {"session_id": "s1"}), ("lock.info", {"name": "l"}),
            ("lock.acquire", {"name": "l", "session_id": "s1", "request_id": "r"}),
            ("lock.release", {"name": "l", "lock_id": "lock-0000000001"}), ("watch.remove", {"watch_id": 1}),
            ("cluster.status", {}), ("auth.whoami", {}), ("auth.user_list", {}), ("debug.state_hash", {}),
            ("snapshot.begin", {}),
        ]:
            denied(lambda: anon.call(op, **args), Unauthenticated)
    assert secure.client().call("auth.whoami")["user"] == "root"


def test_a_reader_of_app_reads_it_but_cannot_write_it_nor_read_elsewhere(secure: LocalCluster) -> None:
    root = secure.client()
    root.create("/app", b"")
    root.create("/app/x", b"1")
    root.create("/other", b"secret")
    add_user(root, "bob", BOB_TOKEN, ("read", "/app"))
    bob = secure.client(token=BOB_TOKEN)
    assert bob.get("/app/x")[0] == b"1"
    assert bob.children("/app") == ["x"]
    assert bob.call("auth.whoami") == {"auth_enabled": True, "user": "bob",
                                       "grants": [{"permission": "read", "prefix": "/app"}]}
    before = secure.wait_converged()
    denied(lambda: bob.set("/app/x", b"2"))
    denied(lambda: bob.create("/app/y", b""))
    denied(lambda: bob.delete("/app/x"))
    denied(lambda: bob.multi([{"op": "check", "path": "/app/x"}, {"op": "set", "path": "/app/x", "data": b"2"}]))
    denied(lambda: bob.get("/other"))
    denied(lambda: bob.children("/"))
    denied(lambda: bob.call("watch.add", path="/", kind="recursive"))  # its events would show /other
    denied(lambda: bob.call("debug.state_hash"))
    denied(lambda: bob.call("auth.user_add", name="eve", token="e" * 20))
    assert secure.wait_converged() == before  # nothing was proposed for any denied request
    assert root.get("/app/x")[0] == b"1"


def test_a_lock_grant_covers_the_locks_it_names_only(secure: LocalCluster) -> None:
    root = secure.client()
    add_user(root, "worker", BOB_TOKEN, ("lock", "/locks/jobs-*"))
    worker = secure.client(token=BOB_TOKEN)
    worker.start_session("w", ttl=5.0)
    held = worker.lock_acquire("jobs-1", timeout=5.0)
    assert worker.lock_info("jobs-1")["holder"]["token"] == held["token"]
    denied(lambda: worker.lock_acquire("payroll", timeout=5.0))
    denied(lambda: worker.lock_info("payroll"))
    denied(lambda: worker.create("/locks-free", b""))
    worker.lock_release("jobs-1", held["lock_id"])
    assert root.lock_info("jobs-1")["holder"] is None


def test_auth_ops_need_admin_on_the_root_and_root_always_has_it(secure: LocalCluster) -> None:
    root = secure.client()
    add_user(root, "ops", BOB_TOKEN, ("admin", "/team"))
    ops = secure.client(token=BOB_TOKEN)
    ops.create("/team", b"")  # admin on /team implies write there
    for op, args in [("auth.user_list", {}), ("auth.role_list", {}), ("auth.role_add", {"name": "r"}),
                     ("auth.user_delete", {"name": "ops"}), ("debug.state_hash", {}), ("snapshot.begin", {}),
                     ("snapshot.chunk", {"export_id": "e", "offset": 0})]:
        denied(lambda: ops.call(op, **args))
    root.call("auth.role_grant", name="ops-role", permission="admin", prefix="/")
    wait_until(lambda: ops.call("auth.role_add", name="r2") == {}, what="admin on / to apply")
    assert [u["name"] for u in ops.call("auth.user_list")["users"]] == ["ops"]
    generated = ops.call("auth.user_add", name="svc")
    assert generated["name"] == "svc" and len(generated["token"]) >= 32
    assert secure.client(token=generated["token"]).call("auth.whoami")["user"] == "svc"
    assert "token" not in ops.call("auth.user_add", name="svc2", token="s" * 20)


def test_a_deleted_users_token_stops_working_on_every_node(secure: LocalCluster) -> None:
    root = secure.client()
    add_user(root, "bob", BOB_TOKEN, ("read", "/"))
    per_node = [secure.client(secure.address(n), token=BOB_TOKEN) for n in (1, 2, 3)]
    for bob in per_node:
        wait_until(lambda bob=bob: bob.exists("/", consistency="local") is not None, what="bob's user on every node")
    root.call("auth.user_delete", name="bob")
    for bob in per_node:
        wait_until(lambda bob=bob: _unauthenticated(lambda: bob.exists("/", consistency="local")),
                   what="the deletion to apply on every node")
    assert [u["name"] for u in root.call("auth.user_list")["users"]] == []


def _unauthenticated(fn: Any) -> bool:
    try:
        fn()
    except Unauthenticated:
        return True
    return False


def test_users_and_grants_survive_a_snapshot_and_a_restart_of_every_node(tmp_path: Path) -> None:
    sections = secure_sections(storage={"snapshot_entries": 5, "keep_entries": 2})
    with running_cluster(tmp_path, sections=sections, token=ROOT_TOKEN) as c:
        root = c.client()
        root.create("/app", b"")
        add_user(root, "bob", BOB_TOKEN, ("read", "/app"), ("write", "/app/w"))
        for i in range(8):  # past snapshot_entries: every node takes a snapshot holding the table
            root.create(f"/app/n{i}", b"")
        wait_until(lambda: all(list((tmp_path / f"node{n}" / "snap").glob("*.snap")) for n in (1, 2, 3)),
                   what="a snapshot on every node")
        before = c.wait_converged()
        for n in (1, 2, 3):
            c.stop(n)
        c.start()
        c.leader()
        assert c.wait_converged() == before
        for n in (1, 2, 3):
            bob = c.client(c.address(n), token=BOB_TOKEN)
            assert bob.call("auth.whoami")["user"] == "bob"
            assert bob.exists("/app/n7", consistency="local") is not None
            denied(lambda bob=bob: bob.create("/app/n9", b""))
        c.client(token=BOB_TOKEN).create("/app/w", b"")
