"""The SessionManager keys sessions by their secret id (heartbeats carry it) but learns of
closed sessions by public id (session_closed events carry only that): the two must meet."""

from __future__ import annotations

import threading
import time

import pykka

from skylock.actors.messages import CheckSessions, LeadershipChanged, Propose, SessionsChanged
from skylock.actors.session_manager import SessionManager


class _Outbox:
    def ok(self, reply, result):  # noqa: ANN001 - test double
        pass

    def error(self, reply, err):  # noqa: ANN001
        pass


def test_a_session_closed_by_public_id_is_forgotten_and_never_expired() -> None:
    proposed: list[dict] = []
    lock = threading.Lock()

    class Raft(pykka.ThreadingActor):  # stands in for RaftNode: records proposals
        def on_receive(self, message):  # noqa: ANN001
            if isinstance(message, Propose):
                with lock:
                    proposed.append(message.command)

    raft = Raft.start()
    manager = SessionManager.start(1, _Outbox(), lambda to, payload: None, 0.05)
    try:
        manager.proxy().connect(raft).get()
        manager.ask(LeadershipChanged(1, 1, True))
        opened = {"secret-a": 1000, "secret-b": 1000, "secret-c": 1000}
        manager.ask(SessionsChanged(opened=opened, public={"secret-a": "pa", "secret-b": "pb", "secret-c": "pc"}))
        # b closed; c closed and its secret opened again in the same batch, under a new public id
        manager.ask(SessionsChanged(opened={"secret-c": 1000}, public={"secret-c": "pc2"}, closed=("pb", "pc")))
        manager.ask(CheckSessions(time.monotonic() + 60))
        raft.ask("flush")  # the proposal was told before: the Raft stand-in has handled it now
        with lock:
            assert [sorted(p["session_ids"]) for p in proposed] == [["secret-a", "secret-c"]]
    finally:
        manager.stop()
        raft.stop()
