"""The wake-up descriptor an IOLoop's owner polls: readable once signalled, quiet once drained."""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Iterator

import pytest
import zmq

from skylock.net.wakeup import Wakeup


def readable(wakeup: Wakeup, timeout: float = 0.0) -> bool:
    return bool(select.select([wakeup.fileno], [], [], timeout)[0])


#: what this system can test: the pipe always, an eventfd where there is one (Linux)
KINDS = ["pipe", *(["eventfd"] if hasattr(os, "eventfd") else [])]


@pytest.fixture(params=KINDS)
def wakeup(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Wakeup]:
    if request.param == "pipe":
        monkeypatch.delattr(os, "eventfd", raising=False)  # as on a system without eventfd
    made = Wakeup()
    yield made
    made.close()


def test_a_signal_makes_it_readable_until_drained(wakeup: Wakeup) -> None:
    assert not readable(wakeup)
    for _ in range(3):  # signals that pile up are drained at once
        wakeup.signal()
    assert readable(wakeup)
    wakeup.drain()
    assert not readable(wakeup)
    wakeup.drain()  # draining a quiet one is harmless
    assert not readable(wakeup)


def test_a_signal_from_another_thread_ends_a_zmq_poll(wakeup: Wakeup) -> None:
    poller = zmq.Poller()
    poller.register(wakeup.fileno, zmq.POLLIN)
    signaller = threading.Thread(target=wakeup.signal)
    signaller.start()
    assert dict(poller.poll(10_000)) == {wakeup.fileno: zmq.POLLIN}
    signaller.join()


def test_close_twice_is_harmless(wakeup: Wakeup) -> None:
    wakeup.close()
    wakeup.close()
