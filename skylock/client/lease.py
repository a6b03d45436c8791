"""A non-blocking lease with an expiry: "mine until then", without holding a session.

Like kazoo's ``NonBlockingLease``. The lease is a node holding the holder's
identifier and the lease's end (wall-clock time); taking it is a compare-and-set
on that node, so of two contenders exactly one wins. The holder may renew it before
it ends (the same identifier takes it again); anyone may take it once it has ended.

    lease = Lease(client, "/leases/daily-report", timedelta(hours=1), "host-a")
    if lease:                      # truthy when obtained (or renewed) now
        send_the_daily_report()    # nobody else gets it for an hour

    Lease(client, "/leases/cleanup", 30.0, "host-b")   # duration in seconds works too

The lease does not end when its holder dies: it simply runs out. Its end is measured
with the clients' clocks (``clock``, ``time.time`` by default), so keep them in sync
and leases well above the skew between them. No session is needed.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Callable

from skylock.client.client import Client
from skylock.client.recipe_nodes import create_if_absent
from skylock.errors import BadVersion, NoNode


class Lease:
    def __init__(self, client: Client, path: str, duration: float | timedelta, identifier: str = "", *,
                 clock: Callable[[], float] = time.time) -> None:
        """Try once to obtain the lease at ``path`` for ``duration``; ``bool(lease)`` says
        whether it was, ``expires_at`` until when (``clock`` time) if so."""
        self.client = client
        self.path = path
        self.identifier = identifier
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
        if seconds <= 0:
            raise ValueError(f"a lease needs a positive duration, not {duration!r}")
        now = clock()
        self.expires_at: float | None = now + seconds
        self.obtained = self._attempt(now, now + seconds)
        if not self.obtained:
            self.expires_at = None

    def __bool__(self) -> bool:
        return self.obtained

    def _attempt(self, now: float, end: float) -> bool:
        record = json.dumps({"holder": self.identifier, "end": end})
        try:
            data, stat = self.client.get(self.path)
        except NoNode:
            return create_if_absent(self.client, self.path, record)  # False: another contender made it first
        current = json.loads(data) if data else {}
        if current.get("holder") != self.identifier and float(current.get("end", 0)) > now:
            return False  # someone else's, and not over yet
        try:
            self.client.set(self.path, record, version=int(stat["version"]))
        except BadVersion:
            return False  # another contender changed it first
        return True

    def __repr__(self) -> str:
        return f"Lease({self.path!r}, {self.identifier!r}, obtained={self.obtained})"
