"""A shared counter, changed atomically by compare-and-set.

Like kazoo's ``Counter``. The value is the node's data (as text); a change reads
it with its version and writes it back only if that version is still current,
reading again when another client got there first, so no increment is lost.

    counter = Counter(client, "/stats/jobs-done")
    counter += 1                   # atomic; counter -= 2 too
    counter.value                  # the current value (0, the default, if never set)
    counter.pre_value, counter.post_value   # before and after this client's last change

    hits = Counter(client, "/stats/seconds", default=0.0)   # floats work as well

No session is needed. A change whose reply is lost (``ConnectionLost``, ``Timeout``)
may or may not have applied: like any write, it is not retried blindly.
"""

from __future__ import annotations

from typing import Union

from skylock.client.client import Client
from skylock.client.recipe_nodes import create_if_absent
from skylock.errors import BadVersion, NoNode

Number = Union[int, float]


class Counter:
    def __init__(self, client: Client, path: str, default: Number = 0) -> None:
        """``default``: the value before the first change; its type (int or float) is the counter's."""
        self.client = client
        self.path = path
        self.default = default
        self.default_type = type(default)
        self.pre_value: Number | None = None
        self.post_value: Number | None = None

    @property
    def value(self) -> Number:
        try:
            data, _ = self.client.get(self.path)
        except NoNode:
            return self.default
        return self._parse(data)

    def __iadd__(self, delta: Number) -> "Counter":
        self._change(delta)
        return self

    def __isub__(self, delta: Number) -> "Counter":
        self._change(-delta)
        return self

    def _change(self, delta: Number) -> None:
        """Compare-and-set until ours is the write that lands on the value we read."""
        if not isinstance(delta, (int, float)):
            raise TypeError(f"a counter changes by a number, not {type(delta).__name__}")
        while True:
            try:
                data, stat = self.client.get(self.path)
            except NoNode:
                if create_if_absent(self.client, self.path, self._format(self.default + delta)):
                    self.pre_value, self.post_value = self.default, self.default + delta
                    return
                continue  # someone else made it first: change theirs
            before = self._parse(data)
            try:
                self.client.set(self.path, self._format(before + delta), version=int(stat["version"]))
            except BadVersion:
                continue
            self.pre_value, self.post_value = before, before + delta
            return

    def _parse(self, data: bytes) -> Number:
        return self.default_type(data.decode()) if data else self.default

    def _format(self, value: Number) -> str:
        return repr(self.default_type(value))

    def __repr__(self) -> str:
        return f"Counter({self.path!r})"
