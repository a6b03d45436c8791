"""A leader whose client socket went unread for a while (its Store busy with something
long, such as a snapshot of a large tree) expires no session meanwhile, since heartbeats
may wait there unread; when it reads again, every deadline moves on by the time it was
deaf. And the loop tells how far it has read."""

from __future__ import annotations

import threading
import time

from skylock.actors.messages import CheckSessions, SessionsChanged
from skylock.net.io_loop import IOLoop
from tests.actors.session_harness import leading_session_manager
from tests.net.netutil import wait_until


def test_no_session_expires_while_the_client_socket_goes_unread() -> None:
    with leading_session_manager(check_interval=0.05) as (manager, expiries):
        t0 = time.monotonic()
        manager.ask(SessionsChanged(opened={"secret-a": 1000}, public={"secret-a": "pa"}))  # deadline ~t0 + 1
        # deaf from t0 + 0.5 on: the deadline passes at t0 + 1 with the socket unread
        manager.ask(CheckSessions(t0 + 2.0, heard_until=t0 + 0.5))
        manager.ask(CheckSessions(t0 + 4.0, heard_until=t0 + 0.5))
        assert expiries() == []
        # reading again at t0 + 4.5: 4 s deaf, so the deadline is now ~t0 + 5
        manager.ask(CheckSessions(t0 + 4.5))
        manager.ask(CheckSessions(t0 + 4.9, heard_until=t0 + 4.88))  # a normal lag: listening
        assert expiries() == []
        manager.ask(CheckSessions(t0 + 5.2))
        assert expiries() == [["secret-a"]]


def test_heard_until_is_now_while_polling_and_the_last_poll_while_busy() -> None:
    loop: IOLoop[str] = IOLoop("test", lambda io: None, lambda key, frames: None)
    polled = threading.Event()

    def owner() -> None:
        loop.open()
        loop.setup()
        loop.poll_once(0)
        polled.set()
        loop.poll_once(None)  # waits until woken
        loop.close()

    thread = threading.Thread(target=owner)
    thread.start()
    try:
        polled.wait(10)
        far = time.monotonic() + 1000
        wait_until(lambda: loop.heard_until(far) == far, what="the owner waiting in poll")
    finally:
        loop.wake()
        thread.join(10)
    after = time.monotonic()
    assert loop.heard_until(after + 1000) <= after  # out of poll: only what it read before
