"""``DataWatch`` and ``ChildrenWatch``: a function told of a node's state, once at once and
then after each change, as kazoo's watchers.

    @DataWatch(client, "/config")
    def config_changed(data, stat):            # data and stat are None while /config is missing
        print("config is now", data)

    @ChildrenWatch(client, "/workers")
    def workers_changed(children):
        print("workers:", children)
        return len(children) < 10               # returning False stops watching

The function may take one more argument, the ``Event`` that caused the call (None the
first time). Every call runs on the client's event thread, the first one before the
decorator returns, so the function may use the client and sees the states in order.

How: the ZooKeeper idiom. Each read sets a one-shot watch; its event runs the next read,
which sets the next watch, so no change between two reads can be missed (several quick
changes may be seen as one, the latest). A read that fails (no server answers) is tried
again after the client's ``RetryPolicy`` pause, off the event thread. A call is made only
when the state differs from the one last reported.
"""

from __future__ import annotations

import inspect
import logging
from abc import ABC, abstractmethod
from typing import Any, Callable

from skylock.client.client import Client, Event
from skylock.client.retry import Attempts
from skylock.errors import NoNode, SkyLockError

log = logging.getLogger("skylock.client.watchers")

_NOTHING = object()  # nothing reported yet


def _takes_event(func: Callable[..., Any], arguments: int) -> bool:
    """True when ``func`` accepts one positional argument more than ``arguments``."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return True
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params) > arguments


class _Watcher(ABC):
    """One node, one function: read and arm a one-shot watch, report, and again on its event."""

    #: how many arguments the function gets besides the optional event
    ARGUMENTS = 1

    def __init__(self, client: Client, path: str, func: Callable[..., Any] | None = None) -> None:
        self.client = client
        self.path = path
        self._func: Callable[..., Any] | None = None
        self._with_event = False
        self._stopped = False
        self._armed = False  # a one-shot watch of ours is set on the server
        self._last: Any = _NOTHING
        self._retries = client.retry.replace(tries=None, deadline=None)
        self._attempts: Attempts | None = None
        if func is not None:
            self(func)

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Start watching with ``func`` (called once before this returns); returns ``func``.
        Raises what the first read raises."""
        if self._func is not None:
            raise ValueError(f"{type(self).__name__} on {self.path} already has a function")
        self._func = func
        self._with_event = _takes_event(func, self.ARGUMENTS)
        self.client.events.run(self._refresh, None)
        return func

    @property
    def stopped(self) -> bool:
        """True once the function returned False (or the watch ended, see the subclass)."""
        return self._stopped

    def _on_event(self, event: Event) -> None:
        self._armed = False  # a one-shot watch fires once
        self._refresh(event)

    def _refresh(self, event: Event | None) -> None:
        """On the event thread: read (setting the next watch if none is set) and report."""
        if self._stopped:
            return
        try:
            state = self._read(self._on_event if not self._armed else None)
        except SkyLockError as err:
            if self._last is _NOTHING:
                raise  # the first read: the caller hears of it
            self._retry_later(event, err)
            return
        self._attempts = None
        if state == self._last:
            return
        self._last = state
        assert self._func is not None
        args = self._arguments(state) + ((event,) if self._with_event else ())
        if self._func(*args) is False or self._ends(state):
            self._stopped = True

    def _retry_later(self, event: Event | None, err: SkyLockError) -> None:
        if not err.retryable:
            log.warning("watch on %s stopped: %s", self.path, err)
            self._stopped = True
            return
        self._attempts = self._attempts or self._retries.start()
        log.info("watch on %s: read failed (%s); trying again", self.path, err)
        self.client.events.later(self._attempts.take_delay(), self._refresh, event)

    def _watched(self, watch: Callable[[Event], None] | None) -> None:
        if watch is not None:
            self._armed = True

    # ---- per kind --------------------------------------------------------------------------

    @abstractmethod
    def _read(self, watch: Callable[[Event], None] | None) -> Any:
        """Each kind says."""

    @abstractmethod
    def _arguments(self, state: Any) -> tuple[Any, ...]:
        """Each kind says."""

    def _ends(self, state: Any) -> bool:
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, stopped={self._stopped})"


class DataWatch(_Watcher):
    """``DataWatch(client, path)(func)``: ``func(data, stat)`` (or ``func(data, stat, event)``)
    now and after each change of the node; ``None, None`` while it does not exist (it may
    be created later: the watch goes on). Return False from ``func`` to stop."""

    ARGUMENTS = 2

    def _read(self, watch: Callable[[Event], None] | None) -> tuple[bytes | None, dict[str, Any] | None]:
        try:
            data, stat = self.client.get(self.path, watch=watch)
            self._watched(watch)
            return data, stat
        except NoNode:
            pass
        # A data watch cannot be set on a missing node; an exists watch hears of its creation.
        created = self.client.exists(self.path, watch=watch)
        self._watched(watch)
        if created is None:
            return None, None
        try:  # created in between: read it (the exists watch tells of what comes next)
            return self.client.get(self.path)
        except NoNode:  # and deleted again: that event is on its way
            return None, None

    def _arguments(self, state: tuple[bytes | None, dict[str, Any] | None]) -> tuple[Any, ...]:
        return state


class ChildrenWatch(_Watcher):
    """``ChildrenWatch(client, path)(func)``: ``func(children)`` (or ``func(children, event)``)
    now and after each change of the node's children. The node must exist (else ``NoNode``
    at once); when it is deleted, ``func([])`` is the last call. Return False to stop."""

    def _read(self, watch: Callable[[Event], None] | None) -> list[str] | None:
        try:
            children = self.client.children(self.path, watch=watch)
        except NoNode:
            if self._last is _NOTHING:
                raise
            return None
        self._watched(watch)
        return children

    def _arguments(self, state: list[str] | None) -> tuple[Any, ...]:
        return ([] if state is None else state,)

    def _ends(self, state: list[str] | None) -> bool:
        return state is None
