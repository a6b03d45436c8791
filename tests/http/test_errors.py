"""Each error class gets its status code and the ``{"error": {"code", "message"}}`` body."""

from __future__ import annotations

from pathlib import Path

import pytest

from skylock.errors import InternalError, NoLeader, SessionExpired, SkyLockError, Timeout
from skylock.http.api import status_of
from tests.http.conftest import http_port
from tests.http.rest import Answer, Rest
from tests.integration.cluster import LocalCluster, wait_until


def _error(answer: Answer, status: int, code: str) -> None:
    assert answer.status == status, answer
    assert answer.error_code == code and answer.body["error"]["message"], answer


def test_bad_input_is_400(api: Rest) -> None:
    _error(api.put("/v1/nodes/x", raw=b"{not json"), 400, "BadRequest")
    _error(api.put("/v1/nodes/x", raw=b"[1, 2]"), 400, "BadRequest")
    _error(api.put("/v1/nodes/x", {"data": 5}), 400, "BadRequest")
    _error(api.put("/v1/nodes/x", {"data": "a", "ephemral": True}), 400, "BadRequest")
    _error(api.put("/v1/nodes/x", {"data": "%%", "encoding": "base64"}), 400, "BadRequest")
    _error(api.post("/v1/nodes/x"), 400, "BadRequest")  # set needs a body with data
    _error(api.post("/v1/session", {"ttl_seconds": "30"}), 400, "BadRequest")
    _error(api.delete("/v1/nodes/x?version=one"), 400, "BadRequest")
    _error(api.get("/v1/watch/x?timeout=0"), 400, "BadRequest")
    _error(api.get("/v1/watch/x?kind=sideways&timeout=1"), 400, "BadRequest")
    _error(api.post("/v1/locks/bad-lock", {"owner": "o"}), 400, "BadRequest")  # no session_id
    _error(api.get("/v1/locks/bad%20name"), 400, "BadRequest")


def test_bad_path_is_400(api: Rest) -> None:
    _error(api.put("/v1/nodes/trailing/", {"data": ""}), 400, "BadPath")
    _error(api.get("/v1/nodes/a//b"), 400, "BadPath")


def test_too_large_is_413(api: Rest) -> None:
    _error(api.put("/v1/nodes/huge", {"data": "x" * (1024 * 1024 + 1)}), 413, "TooLarge")
    _error(api.put("/v1/nodes/huger", raw=b'{"data": "' + b"x" * (8 << 20) + b'"}'), 413, "TooLarge")


def test_missing_node_is_404_and_conflicts_are_409(api: Rest) -> None:
    _error(api.get("/v1/nodes/absent"), 404, "NoNode")
    _error(api.post("/v1/nodes/absent", {"data": "x"}), 404, "NoNode")
    _error(api.delete("/v1/nodes/absent"), 404, "NoNode")
    _error(api.get("/v1/children/absent"), 404, "NoNode")
    _error(api.put("/v1/nodes/absent/child", {"data": "", "parents": False}), 404, "NoNode")

    api.put("/v1/nodes/conflict", {"data": ""})
    api.put("/v1/nodes/conflict/child", {"data": ""})
    _error(api.put("/v1/nodes/conflict", {"data": ""}), 409, "NodeExists")
    _error(api.post("/v1/nodes/conflict", {"data": "x", "version": 7}), 409, "BadVersion")
    _error(api.delete("/v1/nodes/conflict"), 409, "NotEmpty")


def test_unknown_route_and_method_keep_the_error_body(api: Rest) -> None:
    _error(api.get("/v1/nowhere"), 404, "NotFound")
    _error(api.call("PATCH", "/v1/nodes/x"), 405, "MethodNotAllowed")


def test_session_errors_are_410(api: Rest) -> None:
    _error(api.post("/v1/session/no-such-session/heartbeat"), 410, "SessionExpired")
    _error(api.put("/v1/nodes/eph", {"data": "", "ephemeral": True, "session_id": "gone"}), 410, "SessionExpired")
    _error(api.post("/v1/locks/l410", {"session_id": "gone", "timeout_ms": 100}), 410, "SessionExpired")


def test_lock_errors(api: Rest) -> None:
    holder, other = api.session("holder"), api.session("other")
    held = api.post("/v1/locks/contended", {"owner": "h", "session_id": holder, "timeout_ms": 1000})
    assert held.status == 200
    _error(api.post("/v1/locks/contended", {"owner": "o", "session_id": other, "timeout_ms": 200}), 408, "Timeout")
    _error(api.delete("/v1/locks/contended", {"lock_id": held.body["lock_id"], "session_id": other}),
           403, "NotOwner")
    _error(api.delete("/v1/locks/contended", {"lock_id": "lock-0000009999"}), 404, "NoNode")
    _error(api.delete("/v1/locks/contended", {"lock_id": held.body["lock_id"].split(".")[0]}), 403, "NotOwner")
    assert api.get("/v1/locks/contended").body["holder"]["token"] == held.body["token"]
    for session_id in (holder, other):
        api.delete(f"/v1/session/{session_id}")


def test_no_leader_is_503(tmp_path: Path) -> None:
    """One node of three cannot elect a leader: reads of the leader and writes answer 503."""
    lonely = LocalCluster(tmp_path, nodes=3)
    lonely.start(1)
    try:
        rest = Rest(http_port(lonely, 1))

        def answers_503() -> bool:
            try:
                return rest.get("/v1/cluster/leader", timeout=5).status == 503
            except OSError:  # the process is still starting
                return False

        wait_until(answers_503, what="NoLeader from node 1")
        _error(rest.get("/v1/cluster/leader"), 503, "NoLeader")
        _error(rest.put("/v1/nodes/nowhere", {"data": ""}), 503, "NoLeader")
    finally:
        lonely.close()


@pytest.mark.parametrize(("error", "op", "status"), [
    (NoLeader(), "create", 503),
    (Timeout(), "lock.acquire", 408),
    (Timeout(), "create", 504),
    (SessionExpired(), "get", 410),
    (InternalError(), "get", 500),
    (SkyLockError(), "get", 500),
])
def test_status_of_every_other_class(error: SkyLockError, op: str, status: int) -> None:
    assert status_of(error, op=op) == status
