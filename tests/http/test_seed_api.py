"""Every curl example of the seed's API Reference, with its route and body, on a real cluster."""

from __future__ import annotations

import base64
import threading

from tests.http.rest import Answer, Rest
from tests.integration.cluster import LocalCluster, wait_until


def test_session_create_heartbeat_close(api: Rest) -> None:
    created = api.post("/v1/session", {"client_id": "my-client", "ttl_seconds": 30})
    assert created.status == 201
    assert created.body["ttl_seconds"] == 30
    session_id = created.body["session_id"]

    beat = api.post(f"/v1/session/{session_id}/heartbeat")
    assert beat.status == 200 and beat.body["session_id"] == session_id

    closed = api.delete(f"/v1/session/{session_id}")
    assert closed.status == 200 and closed.body == {"session_id": session_id, "closed": True}
    assert api.post(f"/v1/session/{session_id}/heartbeat").status == 410


def test_seed_create_example_works_verbatim_on_a_fresh_tree(api: Rest) -> None:
    """curl -X PUT .../v1/nodes/my/path -d '{"data": "hello", "ephemeral": false}' before /my exists."""
    created = api.put("/v1/nodes/my/path", {"data": "hello", "ephemeral": False})
    assert created.status == 201 and created.body["path"] == "/my/path"
    assert api.get("/v1/nodes/my").body["data"] == ""  # the parent, made like mkdir -p
    assert api.get("/v1/children/my").body["children"] == ["path"]


def test_node_create_get_update_children_delete(api: Rest) -> None:
    assert api.put("/v1/nodes/seed", {"data": "", "ephemeral": False}).status == 201
    created = api.put("/v1/nodes/seed/path", {"data": "hello", "ephemeral": False})
    assert created.status == 201
    assert created.body["path"] == "/seed/path" and created.body["stat"]["version"] == 0

    got = api.get("/v1/nodes/seed/path")
    assert got.status == 200
    assert got.body["path"] == "/seed/path" and got.body["data"] == "hello"
    assert "encoding" not in got.body and got.body["stat"]["data_length"] == 5

    updated = api.post("/v1/nodes/seed/path", {"data": "updated"})
    assert updated.status == 200 and updated.body["stat"]["version"] == 1
    assert api.get("/v1/nodes/seed/path").body["data"] == "updated"

    assert api.get("/v1/children/seed").body == {"path": "/seed", "children": ["path"]}
    assert "seed" in api.get("/v1/children/").body["children"]  # the root

    deleted = api.delete("/v1/nodes/seed/path")
    assert deleted.status == 200 and deleted.body == {"path": "/seed/path", "deleted": True}
    assert api.get("/v1/nodes/seed/path").status == 404
    assert api.get("/v1/children/seed").body["children"] == []


def test_writes_and_reads_through_a_follower(api: Rest, follower_api: Rest) -> None:
    assert follower_api.put("/v1/nodes/via-follower", {"data": "f", "ephemeral": False}).status == 201
    assert api.get("/v1/nodes/via-follower").body["data"] == "f"
    assert follower_api.get("/v1/nodes/via-follower").body["data"] == "f"


def test_root_node_reads(api: Rest) -> None:
    root = api.get("/v1/nodes/")
    assert root.status == 200 and root.body["path"] == "/"


def test_conditional_update_and_delete_by_version(api: Rest) -> None:
    api.put("/v1/nodes/versioned", {"data": "v0"})
    assert api.post("/v1/nodes/versioned", {"data": "v1", "version": 0}).status == 200
    assert api.post("/v1/nodes/versioned", {"data": "v2", "version": 0}).status == 409
    assert api.delete("/v1/nodes/versioned?version=0").status == 409
    assert api.delete("/v1/nodes/versioned?version=1").status == 200


def test_binary_data_round_trips_as_base64(api: Rest) -> None:
    blob = bytes(range(256))
    encoded = base64.b64encode(blob).decode()
    assert api.put("/v1/nodes/binary", {"data": encoded, "encoding": "base64"}).status == 201
    got = api.get("/v1/nodes/binary")
    assert got.body["encoding"] == "base64" and base64.b64decode(got.body["data"]) == blob


def test_sequential_and_ephemeral_nodes_with_a_session(api: Rest) -> None:
    opened = api.post("/v1/session", {"client_id": "owner", "ttl_seconds": 30}).body
    session_id = opened["session_id"]
    api.put("/v1/nodes/queue", {"data": ""})
    first = api.put("/v1/nodes/queue/item-", {"data": "a", "sequential": True})
    second = api.put("/v1/nodes/queue/item-", {"data": "b", "sequential": True})
    assert first.body["path"] < second.body["path"]
    assert second.body["path"].startswith("/queue/item-") and len(second.body["path"]) == len("/queue/item-") + 10

    eph = api.put("/v1/nodes/alive", {"data": "x", "ephemeral": True, "session_id": session_id})
    # others see the session's public id, never its id (a credential)
    assert eph.status == 201 and eph.body["stat"]["ephemeral_owner"] == opened["public_id"] != session_id
    api.delete(f"/v1/session/{session_id}")
    assert api.get("/v1/nodes/alive").status == 404  # closing the session removed its ephemeral


def test_lock_acquire_info_release_with_only_the_lock_id(api: Rest) -> None:
    session_id = api.session("client-1")
    acquired = api.post("/v1/locks/seed-lock", {"owner": "client-1", "session_id": session_id, "timeout_ms": 30000})
    assert acquired.status == 200
    assert acquired.body["owner"] == "client-1" and acquired.body["session_id"] == session_id
    lock_id, token = acquired.body["lock_id"], acquired.body["token"]

    info = api.get("/v1/locks/seed-lock")
    assert info.status == 200
    assert lock_id.startswith(info.body["holder"]["entry"] + ".") and info.body["holder"]["token"] == token
    assert lock_id not in str(info.body) and session_id not in str(info.body)
    assert info.body["waiters"] == []

    released = api.delete("/v1/locks/seed-lock", {"lock_id": lock_id})  # the seed sends only lock_id
    assert released.status == 200 and released.body["released"] == lock_id
    assert api.get("/v1/locks/seed-lock").body["holder"] is None
    api.delete(f"/v1/session/{session_id}")


def test_a_waiting_acquire_gets_the_lock_when_it_is_released(api: Rest, follower_api: Rest) -> None:
    first, second = api.session("first"), api.session("second")
    held = api.post("/v1/locks/handoff", {"owner": "first", "session_id": first, "timeout_ms": 5000})
    assert held.status == 200
    result: list[Answer] = []
    waiter = threading.Thread(target=lambda: result.append(follower_api.post(
        "/v1/locks/handoff", {"owner": "second", "session_id": second, "timeout_ms": 20000})))
    waiter.start()
    try:
        wait_until(lambda: api.get("/v1/locks/handoff").body["waiters"], what="the second session to queue")
        assert api.delete("/v1/locks/handoff", {"lock_id": held.body["lock_id"], "session_id": first}).status == 200
    finally:
        waiter.join(timeout=25)
    assert result and result[0].status == 200
    assert result[0].body["session_id"] == second and result[0].body["token"] > held.body["token"]
    for session_id in (first, second):
        api.delete(f"/v1/session/{session_id}")


def test_cluster_leader_and_status(api: Rest, cluster: LocalCluster) -> None:
    leader = api.get("/v1/cluster/leader")
    assert leader.status == 200 and leader.body["leader_id"] == cluster.leader()
    status = api.get("/v1/cluster/status")
    assert status.status == 200
    assert sorted(n["id"] for n in status.body["nodes"]) == [1, 2, 3]


def test_lock_acquire_takes_a_bounded_lock_delay(api: Rest) -> None:
    session_id = api.session("client-delay")
    too_long = api.post("/v1/locks/delay-lock", {"session_id": session_id, "timeout_ms": 5000, "lock_delay_ms": 60001})
    assert too_long.status == 400 and "lock_delay_ms must be from 0 to 60000" in str(too_long.body)
    held = api.post("/v1/locks/delay-lock", {"session_id": session_id, "timeout_ms": 5000, "lock_delay_ms": 1000})
    assert held.status == 200
    api.delete(f"/v1/session/{session_id}")  # a close, not an expiry: no delay
    assert "delay" not in api.get("/v1/locks/delay-lock").body
