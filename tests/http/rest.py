"""A tiny blocking HTTP client for the REST API tests (http.client: it sends only the
headers it is given, so a test can leave out or set any Content-Type)."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

#: what ``curl -H 'Content-Type: application/json' -d ...`` sends
JSON = "application/json"
_DEFAULT: Any = object()


@dataclass
class Answer:
    status: int
    body: Any  # the decoded JSON, or None for an empty body
    headers: dict[str, str]

    @property
    def error_code(self) -> str:
        return str(self.body["error"]["code"])


class Rest:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self.base = f"http://{host}:{port}"

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
             content_type: str | None = _DEFAULT, timeout: float = 30.0) -> Answer:
        """``body`` is sent as JSON, ``raw`` as the bytes given; either is declared
        ``application/json`` unless ``content_type`` says otherwise (None: no header)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if content_type is _DEFAULT:
            content_type = JSON if data is not None else None
        headers = {"Content-Type": content_type} if content_type is not None else {}
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            return self._answer(resp.status, resp.read(), resp.headers)
        finally:
            conn.close()

    @staticmethod
    def _answer(status: int, payload: bytes, headers: Any) -> Answer:
        return Answer(status, json.loads(payload) if payload else None, dict(headers.items()))

    def get(self, path: str, **kw: Any) -> Answer:
        return self.call("GET", path, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("PUT", path, body, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("POST", path, body, **kw)

    def delete(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("DELETE", path, body, **kw)

    def session(self, client_id: str = "test", ttl_seconds: float = 30) -> str:
        answer = self.post("/v1/session", {"client_id": client_id, "ttl_seconds": ttl_seconds})
        assert answer.status == 201, answer
        return str(answer.body["session_id"])
