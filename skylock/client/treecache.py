"""``TreeCache``: a local copy of a subtree, kept current by one recursive watch, with
listeners, as kazoo's TreeCache.

    cache = TreeCache(client, "/config")

    @cache.listen
    def changed(event):                         # a TreeEvent: added, updated, removed, initialized
        print(event.type, event.path, event.data)

    cache.start()                               # returns once the copy is loaded
    cache.get_data("/config/db")                # (data, stat) or None, read locally
    cache.get_children("/config")               # the names, or None
    cache.close()

How: ``start`` registers a persistent recursive watch on the root first, then reads the
subtree; every event after that re-reads the node it names (so an event older than the
load changes nothing, and the copy converges to the cluster). The watch survives changes
of server (the client replays what it missed); when the server cannot resume it
(``resync``), the cache registers again and reloads, telling listeners the differences.
A read that fails is retried, as a reload, after the client's ``RetryPolicy`` pause.

Threads: loading, updating and the listeners all run on the client's event thread, in
order (listeners may call the client); ``get_data`` and ``get_children`` may be called from
any thread. A node's stat is as of its last data change (child counts may lag).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable

from skylock.client.client import Client, Event, WatchHandle
from skylock.client.events import call_safely
from skylock.client.retry import Attempts
from skylock.errors import NoNode, SkyLockError

log = logging.getLogger("skylock.client.treecache")

ADDED, UPDATED, REMOVED, INITIALIZED = "added", "updated", "removed", "initialized"


@dataclass(frozen=True)
class TreeEvent:
    """What a listener is told: ``type`` is added, updated, removed (with the node's last
    known data and stat) or initialized (once, when ``start`` has loaded the subtree)."""

    type: str
    path: str
    data: bytes | None = None
    stat: dict[str, Any] | None = None


TreeListener = Callable[[TreeEvent], None]


@dataclass
class _Node:
    data: bytes
    stat: dict[str, Any]
    children: set[str]

    def same_version(self, stat: dict[str, Any]) -> bool:
        return (self.stat.get("czxid"), self.stat.get("mzxid")) == (stat.get("czxid"), stat.get("mzxid"))


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def _child(path: str, name: str) -> str:
    return f"{path.rstrip('/')}/{name}"


def _depth(path: str) -> int:
    return path.rstrip("/").count("/")


class TreeCache:
    """``TreeCache(client, path)``: ``start()``, ``get_data(path)``, ``get_children(path)``,
    ``listen(fn)``, ``close()``; also a context manager (start, then close)."""

    def __init__(self, client: Client, path: str) -> None:
        self.client = client
        self.path = path
        self._nodes: dict[str, _Node] = {}
        self._lock = threading.Lock()  # the copy is written on the event thread, read anywhere
        self._listeners: list[TreeListener] = []
        self._watch: WatchHandle | None = None
        self._closed = False
        self._retries = client.retry.replace(tries=None, deadline=None)
        self._attempts: Attempts | None = None

    # ---- public ----------------------------------------------------------------------------

    def listen(self, listener: TreeListener) -> TreeListener:
        """Call ``listener(event)`` on each change of the copy (usable as a decorator)."""
        self._listeners.append(listener)
        return listener

    def start(self) -> "TreeCache":
        """Watch and load the subtree; returns once the copy is loaded (listeners have then
        heard ``added`` for each node, then ``initialized``)."""
        self.client.events.run(self._start)
        return self

    def close(self) -> None:
        """Stop watching; the listeners hear nothing more, the copy is emptied."""
        self._closed = True
        if self._watch is not None:
            self._watch.cancel()
        with self._lock:
            self._nodes = {}

    def get_data(self, path: str) -> tuple[bytes, dict[str, Any]] | None:
        """``(data, stat)`` of a node in the copy, or None when it has none."""
        with self._lock:
            node = self._nodes.get(path)
            return (node.data, node.stat) if node else None

    def get_children(self, path: str) -> list[str] | None:
        """The sorted child names of a node in the copy, or None when it has none."""
        with self._lock:
            node = self._nodes.get(path)
            return sorted(node.children) if node else None

    def __enter__(self) -> "TreeCache":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- on the event thread -----------------------------------------------------------------

    def _start(self) -> None:
        try:
            self._resume()
        except BaseException:
            self.close()
            raise
        self._emit(TreeEvent(INITIALIZED, self.path))

    def _resume(self) -> None:
        """Watch (unless watching), then read everything: no change slips in between."""
        if self._watch is None:
            self._watch = self.client.watch(self.path, self._on_event, kind="recursive")
            if self._closed:  # closed meanwhile from another thread
                self._watch.cancel()
                return
        self._reload()

    def _on_event(self, event: Event) -> None:
        if self._closed:
            return
        try:
            if event.type in ("resync", "session_closed"):  # the watch has ended: a new one, and read all
                self._watch = None
                self._resume()
            elif event.type == "deleted":
                self._remove(event.path)
            elif event.type in ("created", "data_changed"):
                self._refresh(event.path)
        except SkyLockError as err:
            self._retry_later(err)

    def _refresh(self, path: str) -> None:
        """Read one node again; ``added`` or ``updated`` when the copy changes."""
        with self._lock:
            known = self._nodes.get(path)
        try:
            data, stat = self.client.get(path)
            children = known.children if known else set(self.client.children(path))
        except NoNode:
            return  # deleted since: its event follows
        if known is not None and known.same_version(stat):
            return
        with self._lock:
            self._nodes[path] = _Node(data, stat, children)
            if path != self.path and (parent := self._nodes.get(_parent(path))) is not None:
                parent.children.add(path.rsplit("/", 1)[1])
        self._emit(TreeEvent(UPDATED if known else ADDED, path, data, stat))

    def _remove(self, path: str) -> None:
        with self._lock:
            gone = sorted((p for p in self._nodes if p == path or p.startswith(path.rstrip("/") + "/")),
                          key=_depth, reverse=True)
            removed = [(p, self._nodes.pop(p)) for p in gone]
            if (parent := self._nodes.get(_parent(path))) is not None:
                parent.children.discard(path.rsplit("/", 1)[1])
        for p, node in removed:
            self._emit(TreeEvent(REMOVED, p, node.data, node.stat))

    def _reload(self) -> None:
        """Read the whole subtree and tell the listeners how it differs from the copy."""
        fresh = self._snapshot()
        with self._lock:
            old, self._nodes = self._nodes, fresh
        self._attempts = None
        for path in sorted(fresh, key=lambda p: (_depth(p), p)):
            node, before = fresh[path], old.get(path)
            if before is None or not before.same_version(node.stat):
                self._emit(TreeEvent(UPDATED if before else ADDED, path, node.data, node.stat))
        for path in sorted((p for p in old if p not in fresh), key=_depth, reverse=True):
            self._emit(TreeEvent(REMOVED, path, old[path].data, old[path].stat))

    def _snapshot(self) -> dict[str, _Node]:
        nodes: dict[str, _Node] = {}
        pending = [self.path]
        while pending:
            path = pending.pop()
            try:
                data, stat = self.client.get(path)
                children = self.client.children(path)
            except NoNode:
                continue  # deleted while we walked: its event follows
            nodes[path] = _Node(data, stat, set(children))
            pending.extend(_child(path, name) for name in children)
        return nodes

    def _retry_later(self, err: SkyLockError) -> None:
        if not err.retryable:
            log.warning("tree cache of %s stopped: %s", self.path, err)
            self.close()
            return
        self._attempts = self._attempts or self._retries.start()
        log.info("tree cache of %s: read failed (%s); reloading later", self.path, err)
        self.client.events.later(self._attempts.take_delay(), self._resume_or_retry)

    def _resume_or_retry(self) -> None:
        if self._closed:
            return
        try:
            self._resume()
        except SkyLockError as err:
            self._retry_later(err)

    def _emit(self, event: TreeEvent) -> None:
        for listener in list(self._listeners):
            if self._closed:
                return
            call_safely(listener, event, what="tree cache listener")

    def __repr__(self) -> str:
        return f"TreeCache({self.path!r}, nodes={len(self._nodes)})"
