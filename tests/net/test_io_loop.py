"""IOThread on its own: batching per key, posts before start, queue limit, setup errors."""

from __future__ import annotations

import threading

import pytest

from skylock.net.io_loop import IOThread
from tests.net.netutil import wait_until

pytestmark = pytest.mark.timeout(30)


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batches: list[tuple[str, list[bytes]]] = []

    def __call__(self, key: str, frames: list[bytes]) -> None:
        with self.lock:
            self.batches.append((key, frames))

    def frames(self, key: str) -> list[bytes]:
        with self.lock:
            return [f for k, batch in self.batches if k == key for f in batch]


def test_posts_before_start_are_delivered_in_order_per_key():
    rec = Recorder()
    io: IOThread[str] = IOThread("t", lambda io: None, rec)
    io.post("a", [b"1", b"2"])
    io.post("b", [b"x"])
    io.post("a", [b"3"])
    io.start()
    try:
        wait_until(lambda: len(rec.frames("a")) == 3 and rec.frames("b") == [b"x"])
        assert rec.frames("a") == [b"1", b"2", b"3"]
    finally:
        io.stop()


def test_queue_limit_is_per_key_and_counted():
    rec = Recorder()
    io: IOThread[str] = IOThread("t", lambda io: None, rec, queue_limit=3)
    assert io.post("a", [b"%d" % i for i in range(5)]) == 2
    assert io.post("a", [b"more"]) == 1
    assert io.post("b", [b"b"]) == 0
    assert io.dropped_full == 3
    io.start()
    try:
        wait_until(lambda: len(rec.frames("a")) == 3 and rec.frames("b"))
        assert rec.frames("a") == [b"0", b"1", b"2"]
    finally:
        io.stop()


def test_a_failing_deliver_does_not_stop_the_thread():
    rec = Recorder()

    def deliver(key: str, frames: list[bytes]) -> None:
        if key == "bad":
            raise RuntimeError("bug")
        rec(key, frames)

    io: IOThread[str] = IOThread("t", lambda io: None, deliver)
    io.start()
    try:
        io.post("bad", [b"x"])
        io.post("good", [b"y"])
        wait_until(lambda: rec.frames("good") == [b"y"])
        assert io.running
    finally:
        io.stop()


def test_setup_error_is_raised_by_start():
    def setup(io: IOThread[str]) -> None:
        raise OSError("address in use")

    io: IOThread[str] = IOThread("t", setup, Recorder())
    with pytest.raises(OSError, match="address in use"):
        io.start()
    assert not io.running


def test_stop_without_start_and_twice():
    io: IOThread[str] = IOThread("t", lambda io: None, Recorder())
    io.stop()
    io.stop()
    assert io.post("a", [b"late"]) == 0
