"""Shared driver for state machine tests: hands out increasing zxids."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from skylock.errors import SkyLockError
from skylock.state import Applied, StateMachine, commands


def content(sm: StateMachine) -> Any:
    """Everything in the state except last_zxid (which a failed entry still advances)."""
    state = msgpack.unpackb(sm.snapshot(), raw=False)
    del state["last_zxid"]
    return state


class Driver:
    def __init__(self, sm: StateMachine | None = None, now_ms: int = 1000) -> None:
        self.sm = sm or StateMachine()
        self.zxid = self.sm.last_zxid
        self.now_ms = now_ms

    def apply(self, cmd: Any) -> Applied:
        self.zxid += 1
        self.now_ms += 1
        return self.sm.apply(self.zxid, cmd)

    def ok(self, cmd: Any) -> dict[str, Any]:
        applied = self.apply(cmd)
        assert applied.error is None, applied.error
        return applied.result  # type: ignore[return-value]

    def fails(self, cmd: Any, error: type[SkyLockError]) -> SkyLockError:
        """Apply ``cmd``, expect ``error``, and check that nothing changed and no event fired."""
        before = content(self.sm)
        applied = self.apply(cmd)
        assert isinstance(applied.error, error), applied.error
        assert applied.result is None
        assert applied.events == []
        assert content(self.sm) == before
        assert self.sm.last_zxid == self.zxid
        return applied.error

    # short builders that fill in now_ms
    def create(self, path: str, data: bytes = b"", **kw: Any) -> dict[str, Any]:
        return commands.create(path, data, now_ms=self.now_ms, **kw)

    def set(self, path: str, data: bytes, **kw: Any) -> dict[str, Any]:
        return commands.set_data(path, data, now_ms=self.now_ms, **kw)

    def open(self, sid: str, ttl_ms: int = 10_000) -> dict[str, Any]:
        return self.ok(commands.open_session(sid, "client-" + sid, ttl_ms, now_ms=self.now_ms))

    def public(self, sid: str) -> str:
        """The public id of open session ``sid`` (what other clients see of it)."""
        return self.sm.session(sid)["public_id"]

    def acquire(self, name: str, sid: str, request_id: str = "r1", owner: str = "") -> dict[str, Any]:
        return self.ok(commands.lock_acquire(name, session_id=sid, owner=owner or sid,
                                             request_id=request_id, now_ms=self.now_ms))


@pytest.fixture
def d() -> Driver:
    return Driver()
