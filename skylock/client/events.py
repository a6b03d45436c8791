"""The client's event thread: where watch callbacks and session state listeners run.

The contract (as kazoo's): every watch callback and every state listener of one
``Client`` runs on that client's one event thread, one at a time, in the order the
events happened. That thread is never the connection's I/O thread, so a callback may
call the client (read, write, re-arm a watch with ``get(path, watch=cb)``): its
request is answered while it waits. A slow callback delays the client's later
callbacks, never its network I/O; events keep arriving and wait in the queue.

Why a thread of its own: the I/O thread reads the replies. A callback run there that
calls the client waits for a reply that only that very thread could read, so it hangs
until the request's deadline and the connection is taken for lost.

The thread starts with the first event and stops with ``Client.close``, after it ran
what was already queued.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future
from typing import Any, Callable, TypeVar

from skylock.errors import ConnectionLost

log = logging.getLogger("skylock.client")

T = TypeVar("T")

#: (the function, its arguments, a tag naming who it runs for, e.g. a watch)
_Task = tuple[Callable[..., Any], tuple[Any, ...], object]


def call_safely(fn: Callable[..., Any], *args: Any, what: str = "callback") -> None:
    """``fn(*args)``, its exception logged, not raised: for a recipe that tells several
    listeners in turn, where one that fails must not silence the others."""
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - logged; the caller goes on with the next listener
        log.exception("%s failed", what)


class EventThread:
    """One ordered queue of calls and the thread that runs them."""

    def __init__(self, name: str = "skylock-events") -> None:
        self._name = name
        self._cond = threading.Condition()
        self._tasks: deque[_Task] = deque()
        self._thread: threading.Thread | None = None
        self._running: object = None  # the tag of the call under way
        self._closing = False

    def submit(self, fn: Callable[..., Any], *args: Any, tag: object = None) -> bool:
        """Queue ``fn(*args)`` after everything queued before; never blocks. False (and
        nothing queued) once the thread is closing. An exception ``fn`` raises is logged."""
        with self._cond:
            if self._closing:
                return False
            self._tasks.append((fn, args, tag))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()
        return True

    def later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)`` in ``delay`` seconds (a recipe's retry after a failed read),
        from a timer thread; dropped if the thread is closing by then."""
        timer = threading.Timer(delay, self.submit, args=(fn, *args))
        timer.daemon = True
        timer.start()

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the event thread, after what is queued, and return its
        result (or raise its error). On the event thread itself, runs it at once."""
        if self.is_current():
            return fn(*args)
        future: Future[T] = Future()

        def task() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as err:  # noqa: BLE001 - handed to the waiting caller
                future.set_exception(err)

        if not self.submit(task):
            raise ConnectionLost("this client is closed", sent=False, closed=True)
        return future.result()

    def is_current(self) -> bool:
        """True on the event thread (e.g. inside a watch callback)."""
        return threading.current_thread() is self._thread

    def wait_while_running(self, tag: object) -> None:
        """Return once no call for ``tag`` is under way; at once on the event thread,
        where the call under way is the caller's own."""
        if self.is_current():
            return
        with self._cond:
            while self._running is tag:
                self._cond.wait()

    def close(self, timeout: float = 5.0) -> None:
        """Take no more calls; let the queued ones run, then stop (waited for up to
        ``timeout`` seconds, unless called on the event thread)."""
        with self._cond:
            self._closing = True
            thread = self._thread
            self._cond.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._tasks and not self._closing:
                    self._cond.wait()
                if not self._tasks:
                    return
                fn, args, tag = self._tasks.popleft()
                self._running = tag
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - one bad callback must not silence the others
                log.exception("callback failed on the event thread")
            finally:
                with self._cond:
                    self._running = None
                    self._cond.notify_all()
