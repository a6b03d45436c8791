"""The client's one retry rule: what to do after an attempt failed.

A request is sent again only when it cannot have taken effect (``NoLeader``: never
proposed; ``ConnectionLost(sent=False)``: never sent) or when its op has no effect
(``idempotent``). A request never sent goes to the next server at once; the others
after a backoff. Once the deadline has passed, the caller gets the last ``NoLeader`` a
server answered, if any (nothing sent since could have applied), else the error.
Both the synchronous calls and the async pipeline follow this rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from skylock.errors import ConnectionLost, NoLeader, SkyLockError, Timeout

GIVE_UP = "give up"
RETRY_NOW = "retry now"
RETRY_LATER = "retry later"


@dataclass(frozen=True, slots=True)
class Verdict:
    action: str  # GIVE_UP, RETRY_NOW or RETRY_LATER
    #: what the caller gets on GIVE_UP
    error: SkyLockError | None = None
    #: leave the attempt's server: it is gone, or may be cut off from a leader the others have
    drop_connection: bool = False


def after_failure(err: SkyLockError, *, idempotent: bool, closed: bool, now: float, deadline: float,
                  backoff: float, no_leader: NoLeader | None, several_servers: bool) -> Verdict:
    """The rule above, for one failed attempt (``no_leader``: the last one answered, ``err`` included)."""
    if isinstance(err, NoLeader):
        if now + backoff >= deadline:
            return Verdict(GIVE_UP, err)
        return Verdict(RETRY_LATER, drop_connection=several_servers)
    if isinstance(err, ConnectionLost):
        never_sent = err.details.get("sent") is False
        if closed or not (never_sent or idempotent):
            return Verdict(GIVE_UP, err, drop_connection=True)
        if now >= deadline:
            return Verdict(GIVE_UP, no_leader or err, drop_connection=True)
        return Verdict(RETRY_NOW if never_sent else RETRY_LATER, drop_connection=True)
    if isinstance(err, Timeout) and idempotent:
        if now >= deadline:
            return Verdict(GIVE_UP, no_leader or err)
        return Verdict(RETRY_LATER)
    return Verdict(GIVE_UP, err)
