"""Bad numbers, undeclared bodies and broken text get a typed 4xx naming the field from a
real node, never a 500, and change nothing."""

from __future__ import annotations

import uuid

import pytest

from tests.http.rest import Answer, Rest

HUGE = 10 ** 30


def _refused(answer: Answer, field: str, *, status: int = 400) -> None:
    assert answer.status == status, answer
    assert answer.error_code == "BadRequest", answer
    assert repr(field) in answer.body["error"]["message"], answer


def _fresh(api: Rest, name: str) -> str:
    """A new node holding "a"; each test case gets its own."""
    path = f"{name}-{uuid.uuid4().hex[:8]}"
    assert api.put(f"/v1/nodes/{path}", {"data": "a"}).status == 201
    return path


def _absent(api: Rest, path: str) -> None:
    assert api.get(f"/v1/nodes/{path}").status == 404


# ---- numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", ["NaN", "Infinity", "-Infinity", "1e300", "1e400", "-1", str(HUGE)])
def test_session_ttl_must_be_a_finite_number_in_range(api: Rest, ttl: str) -> None:
    _refused(api.post("/v1/session", raw=b'{"client_id": "c", "ttl_seconds": %s}' % ttl.encode()), "ttl_seconds")


@pytest.mark.parametrize("version", [HUGE, 1 << 63, -2, -HUGE])
def test_set_version_must_fit_int64_and_be_at_least_minus_one(api: Rest, version: int) -> None:
    path = _fresh(api, "ver-range")
    _refused(api.post(f"/v1/nodes/{path}", {"data": "b", "version": version}), "version")
    assert api.get(f"/v1/nodes/{path}").body["data"] == "a"


@pytest.mark.parametrize("raw", [b"NaN", b"1e300", b"Infinity", b"1.0", b"true"])
def test_set_version_must_be_an_int(api: Rest, raw: bytes) -> None:
    _refused(api.post("/v1/nodes/ver-type", raw=b'{"data": "b", "version": ' + raw + b"}"), "version")


@pytest.mark.parametrize("query", [f"version={HUGE}", "version=-2", "version=1e3", "version=%E0%A5%AB",
                                   "version=1_0", "version=+1", "version=%201"])
def test_delete_version_query_must_be_a_decimal_int64(api: Rest, query: str) -> None:
    path = _fresh(api, "del-range")
    _refused(api.delete(f"/v1/nodes/{path}?{query}"), "version")
    assert api.get(f"/v1/nodes/{path}").status == 200


@pytest.mark.parametrize("timeout_ms", [HUGE, 1 << 63, -1])
def test_lock_timeout_ms_must_be_in_range(api: Rest, timeout_ms: int) -> None:
    session = api.session("range")
    try:
        _refused(api.post("/v1/locks/range", {"session_id": session, "timeout_ms": timeout_ms}), "timeout_ms")
        assert api.get("/v1/locks/range").body["holder"] is None
    finally:
        api.delete(f"/v1/session/{session}")


@pytest.mark.parametrize("query", [f"from_zxid={HUGE}", "from_zxid=-1", "from_zxid=NaN"])
def test_watch_from_zxid_must_be_a_non_negative_int64(api: Rest, query: str) -> None:
    _refused(api.get(f"/v1/watch/w?{query}&timeout=1"), "from_zxid")


@pytest.mark.parametrize("timeout", ["nan", "inf", "-inf", "1e400", "0", "301", "soon"])
def test_watch_timeout_must_be_finite_seconds_in_range(api: Rest, timeout: str) -> None:
    _refused(api.get(f"/v1/watch/w?timeout={timeout}"), "timeout")


def test_the_largest_valid_values_are_accepted(api: Rest) -> None:
    path = _fresh(api, "max-ok")
    answer = api.post(f"/v1/nodes/{path}", {"data": "b", "version": (1 << 63) - 1})
    assert answer.status == 409 and answer.error_code == "BadVersion", answer
    assert api.delete(f"/v1/nodes/{path}?version={(1 << 63) - 1}").error_code == "BadVersion"
    session = api.post("/v1/session", {"client_id": "big-ttl", "ttl_seconds": 1e9})
    assert session.status == 201, session  # clamped by the node to its session.max_ttl
    assert api.delete(f"/v1/session/{session.body['session_id']}").status == 200


# ---- text -------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["data", "client_id"])
def test_lone_surrogates_are_bad_text(api: Rest, field: str) -> None:
    if field == "data":
        _refused(api.put("/v1/nodes/surrogate", raw=b'{"data": "\\ud800"}'), "data")
        _absent(api, "surrogate")
    else:
        _refused(api.post("/v1/session", raw=b'{"client_id": "\\udfff"}'), "client_id")


# ---- Content-Type -----------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [
    "application/x-www-form-urlencoded",  # curl -d without -H, and an HTML form
    "text/plain",  # a no-cors fetch
    "multipart/form-data; boundary=x",
    "application/json; charset=latin-1",
    "application/jsonp",
    None,
])
def test_a_body_must_be_declared_json(api: Rest, content_type: str | None) -> None:
    body = {"data": "from another site"}
    answer = api.put("/v1/nodes/csrf", body, content_type=content_type)
    assert answer.status == 415 and answer.error_code == "BadRequest", answer
    assert "application/json" in answer.body["error"]["message"]
    _absent(api, "csrf")
    assert api.post("/v1/session", {"client_id": "csrf"}, content_type=content_type).status == 415
    assert api.post("/v1/locks/csrf", {"session_id": "s"}, content_type=content_type).status == 415


def test_declared_json_with_parameters_and_routes_without_body(api: Rest) -> None:
    ok = api.put("/v1/nodes/typed", {"data": "x"}, content_type="Application/JSON; charset=UTF-8")
    assert ok.status == 201, ok
    assert api.put("/v1/nodes/typed-empty", content_type=None).status == 201  # no body: no type needed
    assert api.get("/v1/nodes/typed", content_type="text/plain").status == 200
    assert api.delete("/v1/nodes/typed-empty").status == 200
    assert api.post("/v1/nodes/typed", content_type=None).error_code == "BadRequest"  # set needs a body
