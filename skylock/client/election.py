"""Leader election on top of the server lock.

The leader is whoever holds lock ``name``; candidates are its FIFO queue, so
leadership passes in campaign order when the leader resigns or its session
expires. Every candidate's identifier is the lock owner, which is how anyone
(candidate or not) can ask who leads, and watch for changes under
``/locks/{name}``.

    election = Election(client, "scheduler", "host-a:8080")
    election.on_leader_change(lambda who: print("leader is now", who))
    election.campaign()          # blocks until this client leads
    ...
    election.resign()
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from skylock.client.client import Client, Event, WatchHandle
from skylock.client.events import call_safely
from skylock.client.lock import Lock
from skylock.errors import SkyLockError

log = logging.getLogger("skylock.client.election")

LeaderCallback = Callable[[str | None], None]


class Election:
    def __init__(self, client: Client, name: str, identifier: str) -> None:
        self.client = client
        self.name = name
        self.identifier = identifier
        self._lock = Lock(client, name, owner=identifier)
        self._callbacks: list[LeaderCallback] = []
        self._watching = False
        self._watch: WatchHandle | None = None
        self._last_seen: str | None = None
        self._seen_mutex = threading.RLock()  # one check at a time, so changes are reported in order

    @property
    def is_leader(self) -> bool:
        return self._lock.is_held

    @property
    def token(self) -> int | None:
        """The fencing token of this term of leadership (grows with every new leader)."""
        return self._lock.token

    def campaign(self, timeout: float | None = None) -> bool:
        """Join the candidates and block until leader; False if ``timeout`` passes first
        (the candidacy is then withdrawn)."""
        return self._lock.acquire(timeout=timeout)

    def resign(self) -> None:
        """Step down (or withdraw): the next candidate in line becomes leader."""
        self._lock.release()

    def leader(self) -> str | None:
        """The current leader's identifier, or None when nobody leads."""
        holder = self.client.lock_info(self.name)["holder"]
        return str(holder["owner"]) if holder else None

    def on_leader_change(self, callback: LeaderCallback) -> None:
        """Call ``callback(identifier | None)`` once with the current leader before this
        returns, then on each change of leader, as kazoo's watchers do: a caller need not read
        the leader separately and cannot miss a change in between. Every call runs on the
        client's event thread, in order with its watch callbacks, so ``callback`` may use the
        client. Built on one persistent recursive watch on ``/locks/{name}``, registered
        before the first read."""
        self.client.events.run(self._observe, callback)

    def _observe(self, callback: LeaderCallback) -> None:
        """On the event thread, where changes are checked too: the first call comes first."""
        with self._seen_mutex:
            if not self._watching:
                self._start_watching()
            self._callbacks.append(callback)
            self._report(callback, self._last_seen)

    def _start_watching(self) -> None:
        watch = self.client.watch(f"/locks/{self.name}", self._on_event, kind="recursive")
        try:
            self._last_seen = self.leader()
        except BaseException:
            watch.cancel()
            raise
        self._watch, self._watching = watch, True

    def close(self) -> None:
        """Resign if leading, and stop observing (ends the watch that
        ``on_leader_change`` started); the client stays open."""
        self._watching = False
        with self._seen_mutex:  # a change check under way finishes first; none calls back after
            self._callbacks.clear()
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._lock.is_held:
            self.resign()

    def __enter__(self) -> "Election":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_event(self, event: Event) -> None:
        """On the event thread, which may call the client."""
        if event.type == "resync":
            self._rewatch()  # the server lost our place: register again and compare from a fresh read
        elif event.type in ("created", "deleted"):
            self._check()

    def _rewatch(self) -> None:
        if not self._watching:
            return
        try:
            self._watch = self.client.watch(f"/locks/{self.name}", self._on_event, kind="recursive")
        except SkyLockError as err:
            log.warning("election %s: could not watch again: %s", self.name, err)
        self._check()

    def _check(self) -> None:
        """Report the leader if it changed (under the mutex ``close`` takes: none after it)."""
        with self._seen_mutex:
            try:
                current = self.leader()
            except SkyLockError as err:
                log.info("election %s: leader unknown for now: %s", self.name, err)
                return
            if current == self._last_seen:
                return
            self._last_seen = current
            for callback in list(self._callbacks):
                self._report(callback, current)

    @staticmethod
    def _report(callback: LeaderCallback, leader: str | None) -> None:
        call_safely(callback, leader, what="leader-change callback")

    def __repr__(self) -> str:
        return f"Election({self.name!r}, {self.identifier!r}, leader={self.is_leader})"
