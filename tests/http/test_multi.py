"""``POST /v1/multi`` on the shared 3-node cluster: all ops or none, binary data as in the
node routes, typed errors with the failing op's index, and the node's checks on every op."""

from __future__ import annotations

import base64

from tests.http.rest import Rest


def test_a_multi_applies_every_op_and_answers_each_result(api: Rest) -> None:
    api.put("/v1/nodes/tx/config", {"data": "v0"})
    blob = bytes(range(200, 256))
    answer = api.post("/v1/multi", {"ops": [
        {"op": "check", "path": "/tx/config", "version": 0},
        {"op": "set", "path": "/tx/config", "data": "v1", "version": 0},
        {"op": "create", "path": "/tx/blob", "data": base64.b64encode(blob).decode(), "encoding": "base64"},
        {"op": "create", "path": "/tx/job-", "sequential": True},
    ]})
    assert answer.status == 200, answer.body
    check, updated, created, sequential = answer.body["results"]
    assert check == {} and updated["stat"]["version"] == 1
    assert created["path"] == "/tx/blob" and sequential["path"] == "/tx/job-" + "0" * 10
    assert api.get("/v1/nodes/tx/config").body["data"] == "v1"
    got = api.get("/v1/nodes/tx/blob").body
    assert got["encoding"] == "base64" and base64.b64decode(got["data"]) == blob


def test_a_failing_op_applies_nothing_and_is_named_by_its_index(api: Rest) -> None:
    api.put("/v1/nodes/tx2/a", {"data": "a"})
    answer = api.post("/v1/multi", {"ops": [
        {"op": "create", "path": "/tx2/b", "data": "b"},
        {"op": "set", "path": "/tx2/a", "data": "x", "version": 7},
    ]})
    assert (answer.status, answer.error_code, answer.body["error"]["index"]) == (409, "BadVersion", 1)
    assert api.get("/v1/nodes/tx2/b").status == 404
    missing = api.post("/v1/multi", {"ops": [{"op": "delete", "path": "/tx2/none"}]})
    assert (missing.status, missing.error_code, missing.body["error"]["index"]) == (404, "NoNode", 0)


def test_malformed_ops_are_refused_before_reaching_the_log(api: Rest) -> None:
    for body, index in [({"ops": "create"}, None), ({"ops": [1]}, 0),
                        ({"ops": [{"op": "create", "path": "/tx3", "data": "%%", "encoding": "base64"}]}, 0),
                        ({"ops": [{"op": "check", "path": "/", "bogus": 1}]}, 0),
                        ({"ops": [{"op": "drop", "path": "/"}]}, 0), ({"ops": [], "extra": 1}, None)]:
        answer = api.post("/v1/multi", body)
        assert (answer.status, answer.error_code) == (400, "BadRequest"), (body, answer.body)
        assert answer.body["error"].get("index") == index, (body, answer.body)
    assert api.post("/v1/multi", raw=b'{"ops": []}', content_type="text/plain").status == 415
    assert api.get("/v1/nodes/tx3").status == 404
