"""The SessionManager keys sessions by their secret id (heartbeats carry it) but learns of
closed sessions by public id (session_closed events carry only that): the two must meet."""

from __future__ import annotations

import time

from skylock.actors.messages import CheckSessions, SessionsChanged
from tests.actors.session_harness import leading_session_manager


def test_a_session_closed_by_public_id_is_forgotten_and_never_expired() -> None:
    with leading_session_manager() as (manager, expiries):
        opened = {"secret-a": 1000, "secret-b": 1000, "secret-c": 1000}
        manager.ask(SessionsChanged(opened=opened, public={"secret-a": "pa", "secret-b": "pb", "secret-c": "pc"}))
        # b closed; c closed and its secret opened again in the same batch, under a new public id
        manager.ask(SessionsChanged(opened={"secret-c": 1000}, public={"secret-c": "pc2"}, closed=("pb", "pc")))
        manager.ask(CheckSessions(time.monotonic() + 60))
        assert expiries() == [["secret-a", "secret-c"]]
