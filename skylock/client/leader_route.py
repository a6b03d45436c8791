"""Where a client sends its writes: straight to the leader, as the Raft paper's section 8 has
clients do, over a connection of their own.

Why: a write sent to a follower is forwarded to the leader, and its answer comes back the
same way: two more crossings between processes, and about 45% more of the cluster's CPU,
than a write sent to the leader. So a client asks the server it is connected to (its home)
which node leads (``cluster.leader``) and sends writes and lock operations there. Everything
else stays home: reads (which never go back behind what the client has seen, ``min_zxid``),
watches, heartbeats.

The route is a hint, never a condition of correctness: a node that no longer leads still
forwards what it gets, so a stale route costs only speed, unless the old leader is paused,
when a write sent there goes unanswered. So a known route is looked up again by the first
write ``RECHECK`` seconds after the last lookup (a quarter of a second: a few lookups a
second for a busy writer, one round trip each on its home server); it is dropped, and writes
go home meanwhile, when its node answers ``NoLeader`` or goes away; after a failed lookup
the next waits ``RETRY_LOOKUP`` seconds. A new leader is elected only after the old one has
been silent for an election timeout (0.5 to 1 s by default), and writes forwarded to a silent
leader go unanswered too, so the route adds at most ``RECHECK`` to that.

``LeaderRoute`` decides when to look up and keeps the route with its connection; the client's
failover (failover.py, aio.py) makes the lookups, opens the connection it is told to open and
closes the ones it is handed back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Container
from typing import Any, Callable, Generic, Protocol, TypeVar

from skylock.net import codec

#: Ops that change the replicated state through the leader: the ones routed to it. Membership
#: changes are made only there (a follower refuses them), the others a follower forwards.
LEADER_OPS = frozenset(name for name, spec in codec.OPS.items()
                       if spec.route in ("write", "lock") or (spec.route == "member" and not spec.idempotent))

#: Seconds a known route is trusted before the next write looks it up again.
RECHECK = 0.25
#: Seconds after a lookup that found no usable leader before another is tried.
RETRY_LOOKUP = 0.5
#: Seconds a lookup may take; it runs on the home connection before a write.
LOOKUP_TIMEOUT = 1.0


def leader_address(reply: Any, server_keys: Container[str] | None = None) -> str | None:
    """The leader's client address in a ``cluster.leader`` reply, if it names one the client
    may use: in secure mode (``server_keys``, the credentials' CURVE keys by address) never a
    server whose key the client cannot check."""
    address = reply.get("client_address") if isinstance(reply, dict) else None
    if not (isinstance(address, str) and address):
        return None
    return address if server_keys is None or address in server_keys else None


class _Addressed(Protocol):
    address: str


C = TypeVar("C", bound=_Addressed)


class LeaderRoute(Generic[C]):
    """When to look the leader up, what the last lookup found, and the connection writes go
    to (``C``: the sync or the asyncio client's). Not thread-safe: its owner (the client's
    failover) calls it under its own lock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        #: the leader's client address, or None: writes go home
        self.address: str | None = None
        #: the leader's connection: home itself when home leads, else one of its own
        self.conn: C | None = None
        self._checked = -math.inf
        self._next_lookup = -math.inf
        self._looking = False

    def due(self) -> bool:
        """Should the next write look the leader up first? Never while a lookup is under way."""
        if self._looking:
            return False
        now = self._clock()
        if self.address is not None:
            return now - self._checked >= RECHECK
        return now >= self._next_lookup

    def begin(self) -> None:
        """A lookup starts (the caller then ends it with ``found`` or ``failed``)."""
        self._looking = True

    def found(self, address: str | None) -> None:
        """The lookup named ``address`` (None: no leader the client can use)."""
        self._looking = False
        now = self._clock()
        self.address, self._checked = address, now
        if address is None:
            self._next_lookup = now + RETRY_LOOKUP

    def failed(self) -> None:
        """The lookup got no answer: keep the route as it was, try again a little later."""
        self._looking = False
        now = self._clock()
        self._next_lookup = now + RETRY_LOOKUP
        self._checked = now - RECHECK + RETRY_LOOKUP  # a known route is looked up again as soon

    def forget(self) -> None:
        """The leader's node went away or stopped leading: writes go home until a lookup."""
        self.conn = self.address = None
        self._checked = -math.inf
        self._next_lookup = self._clock() + RETRY_LOOKUP  # an election takes about that long

    def writer(self, home: C) -> C:
        """Where a write goes now."""
        return self.conn or home

    def switch(self, address: str | None, home: C, open_connection: Callable[[str], C]) -> C | None:
        """The lookup named ``address`` (None: none the client can use): writes go there from now
        on, on ``home`` when it is the leader's, else on a connection ``open_connection`` makes.
        Returns the old route's own connection, for the caller to close (outside its lock)."""
        self.found(address)
        stale = None
        if self.conn is not None and self.conn.address != address:
            stale = self.conn if self.conn is not home else None
            self.conn = None
        if address is not None and self.conn is None:
            self.conn = home if address == home.address else open_connection(address)
        return stale

    def drop(self, conn: C, home: C | None) -> bool:
        """``conn`` went away or answered ``NoLeader``: if it was the route, forget it. True when
        it was the route's own connection (not ``home``), which the caller then closes."""
        if conn is not self.conn:
            return False
        self.forget()
        return conn is not home
