"""Fuzzing the REST routes of a real node with arbitrary JSON bodies: every answer is a
success or a 4xx with exactly ``{"error": {"code", "message"}}``, never a 5xx; and input
the API refuses (400, 413, 415) leaves the replicated state exactly as it was."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.http.conftest import http_port
from tests.http.rest import Rest
from tests.integration.cluster import LocalCluster, running_cluster

REAL_SESSION = "<the test's session>"  # replaced by a live session id when drawn
#: method, path, the fields the route knows, a valid body to start from
ROUTES: list[tuple[str, str, list[str], dict[str, Any]]] = [
    ("POST", "/v1/session", ["client_id", "ttl_seconds"], {"client_id": "f", "ttl_seconds": 5}),
    ("PUT", "/v1/nodes/fuzz/n", ["data", "encoding", "ephemeral", "sequential", "session_id", "parents"],
     {"data": "x", "sequential": True}),
    ("POST", "/v1/nodes/fuzz", ["data", "encoding", "version"], {"data": "x", "version": -1}),
    ("POST", "/v1/locks/fuzz", ["owner", "session_id", "timeout_ms", "request_id"],
     {"session_id": REAL_SESSION, "timeout_ms": 100}),
    ("DELETE", "/v1/locks/fuzz", ["lock_id", "session_id"], {"lock_id": "lock-0000000001", "session_id": REAL_SESSION}),
]
REFUSED_INPUT = (400, 413, 415)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, -2, 1, 10 ** 30, -(10 ** 30), (1 << 63) - 1, 1 << 63, 1e300, 0.5, 30]),
    st.text(max_size=12), st.sampled_from(["\ud800", "base64", "utf-8", "aGk=", "%%", "", REAL_SESSION]),
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, Any]:
    method, path, fields, valid = draw(st.sampled_from(ROUTES))
    if draw(st.integers(0, 4)) == 0:
        return method, path, draw(json_values)  # anything at all, objects or not
    changes = draw(st.dictionaries(st.sampled_from([*fields, "bogus"]), scalars | json_values, max_size=2))
    dropped = draw(st.sets(st.sampled_from(sorted(valid)), max_size=1)) if valid else set()
    body = {k: v for k, v in valid.items() if k not in dropped}
    return method, path, {**body, **changes}


@pytest.fixture(scope="module")
def fuzz_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Its own cluster: sessions live an hour, so nothing changes the state behind the test's back."""
    sections = {"session": {"max_ttl": "1h", "default_ttl": "1h"}}
    with running_cluster(Path(tmp_path_factory.mktemp("http-fuzz")), sections=sections) as c:
        yield c


def _substitute(value: Any, session_id: str) -> Any:
    if value == REAL_SESSION:
        return session_id
    if isinstance(value, dict):
        return {k: _substitute(v, session_id) for k, v in value.items()}
    return value


def _assert_error_body(body: Any) -> None:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, body
    assert isinstance(error["code"], str) and error["code"] and isinstance(error["message"], str), body


def test_arbitrary_json_bodies_get_a_typed_answer_and_refusals_change_nothing(fuzz_cluster: LocalCluster) -> None:
    api = Rest(http_port(fuzz_cluster, 1))
    probe = fuzz_cluster.node_client(1)
    assert api.put("/v1/nodes/fuzz", {"data": ""}).status == 201
    session = api.session("fuzzer", ttl_seconds=3600)
    seen: dict[int, int] = {}

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(requests())
    def one(request: tuple[str, str, Any]) -> None:
        method, path, body = request
        raw = json.dumps(_substitute(body, session)).encode()  # NaN/Infinity as Python writes them
        before = probe.call("debug.state_hash")["hash"]
        answer = api.call(method, path, raw=raw, timeout=60)
        seen[answer.status] = seen.get(answer.status, 0) + 1
        assert answer.status < 500, (method, path, raw, answer)
        if answer.status >= 400:
            _assert_error_body(answer.body)
        if answer.status in REFUSED_INPUT:
            assert probe.call("debug.state_hash")["hash"] == before, (method, path, raw, answer)
        elif answer.status == 201 and path == "/v1/session":
            assert api.delete(f"/v1/session/{answer.body['session_id']}").status == 200

    one()
    assert seen.get(400), seen  # the fuzzer reached the validation, not only the happy path
    assert fuzz_cluster.wait_converged()


def test_arbitrary_query_values_and_path_bytes_get_a_typed_answer(fuzz_cluster: LocalCluster) -> None:
    """Query parameters and URL path segments as arbitrary percent-encoded bytes."""
    api = Rest(http_port(fuzz_cluster, 1))
    probe = fuzz_cluster.node_client(1)
    assert api.put("/v1/nodes/qfuzz", {"data": ""}).status in (201, 409)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(["DELETE /v1/nodes/qfuzz/absent?version={}", "GET /v1/nodes/qfuzz?consistency={}",
                            "GET /v1/children/qfuzz?consistency={}", "DELETE /v1/nodes/qfuzz/{}",
                            "GET /v1/locks/{}", "POST /v1/session/{}/heartbeat", "DELETE /v1/session/{}",
                            "GET /v1/watch/qfuzz?timeout=0.01&from_zxid={}"]),
           st.binary(max_size=12) | st.sampled_from([b"-1", b"1e3", str(10 ** 30).encode(), b"\xed\xa0\x80", b"nan"]))
    def one(target: str, value: bytes) -> None:
        method, url = target.split(" ")
        before = probe.call("debug.state_hash")["hash"]
        answer = api.call(method, url.format(urllib.parse.quote(value, safe="")), timeout=60)
        assert answer.status < 500, (target, value, answer)
        if answer.status >= 400:
            _assert_error_body(answer.body)
        if answer.status in REFUSED_INPUT:
            assert probe.call("debug.state_hash")["hash"] == before, (target, value, answer)

    one()
