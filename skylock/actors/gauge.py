"""A number one actor publishes and any thread may read.

Some limits are checked where a request enters (the gateway, on the thread that
serves the client socket) against a figure another actor owns, such as the number of
open sessions. Asking that actor would block that thread; a gauge lets its
owner publish the figure instead. One writer only; reading an int is atomic, and
a reader may see a value a moment old, which a limit tolerates.
"""

from __future__ import annotations


class Gauge:
    __slots__ = ("value",)

    def __init__(self, value: int = 0) -> None:
        self.value = value
