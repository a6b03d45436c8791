"""A SessionManager that leads, with stand-ins for what it talks to: the tests of session
expiry drive it with messages and read back which expiries it proposed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pykka

from skylock.actors.messages import LeadershipChanged, Propose
from skylock.actors.session_manager import SessionManager


class NullOutbox:
    def ok(self, reply: Any, result: Any) -> None:
        pass

    def error(self, reply: Any, err: Any) -> None:
        pass


class ProposalRecorder(pykka.ThreadingActor):
    """Stands in for RaftNode: keeps the commands proposed to it."""

    def __init__(self) -> None:
        super().__init__()
        self.proposed: list[dict[str, Any]] = []

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Propose):
            self.proposed.append(message.command)
        return None


@contextmanager
def leading_session_manager(check_interval: float = 0.05) -> Iterator[tuple[pykka.ActorRef[Any], Any]]:
    """(the manager, a function giving the session ids of each expiry proposed so far)."""
    raft = ProposalRecorder.start()
    manager = SessionManager.start(1, NullOutbox(), lambda to, payload: None, check_interval)

    def expiries() -> list[list[str]]:
        # read on the stand-in's thread, after every proposal told to it before
        return [sorted(p["session_ids"]) for p in raft.proxy().proposed.get()]

    try:
        manager.proxy().connect(raft).get()
        manager.ask(LeadershipChanged(1, 1, True))
        yield manager, expiries
    finally:
        manager.stop()
        raft.stop()
