"""A tiny blocking HTTP client for the REST API tests (urllib: what curl does)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


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
        self.base = f"http://{host}:{port}"

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
             timeout: float = 30.0) -> Answer:
        """``body`` is sent as JSON (like ``curl -d``); ``raw`` sends bytes as they are."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return self._answer(resp.status, resp.read(), resp.headers)
        except urllib.error.HTTPError as err:
            return self._answer(err.code, err.read(), err.headers)

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
