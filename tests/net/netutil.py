"""Helpers for socket tests: free ports and waiting on a condition with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable

from skylock.layout import free_ports


def free_address() -> str:
    """A "127.0.0.1:port" that was free a moment ago (in this test worker's port range)."""
    return f"127.0.0.1:{free_ports(1)[0]}"


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, *, poke: Callable[[], None] | None = None,
               what: str = "condition") -> None:
    """Poll ``condition`` until true or fail after ``timeout``; ``poke`` runs each round (e.g. resend)."""
    deadline = time.monotonic() + timeout
    while True:
        if poke is not None:
            poke()
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)
