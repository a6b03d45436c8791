"""The client's retries: one policy (how long to wait between attempts, how many, until
when) and one rule (whether a failed attempt may be made again at all).

``RetryPolicy`` (tries, delay, backoff, max_delay, jitter, deadline) is what a caller
chooses, as with kazoo's ``KazooRetry``: ``Client(servers, retry=RetryPolicy(...))``.
Every retry loop of the client follows it: each call's failover (``deadline`` is then
the call's budget; ``request_timeout`` when not given), the async pipeline, lock waits
(until the lock's own timeout), lock releases, heartbeats (until the session's TTL) and
the moving of watches to a new server (until they find one). Each loop asks the policy
for an ``Attempts`` and, after a failure, for the pause before the next try.

The rule:

A request is sent again only when it cannot have taken effect (``NoLeader``: never
proposed; ``ConnectionLost(sent=False)``: never sent) or when its op has no effect
(``idempotent``). A request never sent goes to the next server at once; the others
after a backoff. Once the deadline has passed, the caller gets the last ``NoLeader`` a
server answered, if any (nothing sent since could have applied), else the error.
Both the synchronous calls and the async pipeline follow this rule.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, TypeVar

from skylock.errors import ConnectionLost, NoLeader, SkyLockError, Timeout

T = TypeVar("T")

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


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed attempt is retried. The pause before try n+1 is
    ``min(delay * backoff**(n-1), max_delay)``, scaled by a random factor in
    ``[1 - jitter, 1 + jitter]`` so that clients failed by the same event do not all come
    back at once. ``tries``: attempts in all (None: as many as the deadline allows).
    ``deadline``: seconds an operation may take, its retries included (None: no limit;
    for the client's calls, its ``request_timeout``). A retry whose pause would end past
    the deadline is not made.

    ``sleep``, ``clock`` and ``uniform`` are injectable (tests, simulations); a ``Client``'s
    policy keeps ``clock`` as ``time.monotonic``, which its deadlines are measured on.

        policy = RetryPolicy(tries=5, delay=0.1, backoff=2, max_delay=2, deadline=30)
        client = Client(servers, retry=policy)
        data, stat = policy(client.get, "/config")   # KazooRetry style: retries a retryable error
    """

    tries: int | None = None
    delay: float = 0.02
    backoff: float = 2.0
    max_delay: float = 0.5
    jitter: float = 0.2
    deadline: float | None = None
    sleep: Callable[[float], Any] = field(default=time.sleep, compare=False, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)
    uniform: Callable[[float, float], float] = field(default=random.uniform, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.tries is not None and self.tries < 1:
            raise ValueError("retry.tries must be at least 1 (or None)")
        if self.delay < 0 or self.max_delay < 0:
            raise ValueError("retry.delay and retry.max_delay must not be negative")
        if self.backoff < 1:
            raise ValueError("retry.backoff must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("retry.jitter must be between 0 and 1")
        if self.deadline is not None and self.deadline <= 0:
            raise ValueError("retry.deadline must be positive (or None)")

    def replace(self, **changes: Any) -> "RetryPolicy":
        """This policy with some fields changed (e.g. the deadline of one kind of loop)."""
        return replace(self, **changes)

    def start(self) -> "Attempts":
        """The bookkeeping of one operation's attempts; its deadline counts from now."""
        return Attempts(self)

    def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, tried again after a retryable ``SkyLockError`` (``NoLeader``,
        ``ConnectionLost``, ``Timeout``...) as this policy allows; then the last error is raised.
        Wrap only what is safe to repeat: a write that timed out may have been applied."""
        attempts = self.start()
        while True:
            try:
                return fn(*args, **kwargs)
            except SkyLockError as err:
                if not err.retryable or not attempts.failed():
                    raise
            attempts.pause()


class Attempts:
    """One operation's attempts under a ``RetryPolicy``: failures counted, the deadline,
    and the pause before the next try (growing with each)."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.failures = 0
        #: on the policy's clock; inf when it has no deadline
        self.deadline = policy.clock() + policy.deadline if policy.deadline is not None else math.inf
        self._base = policy.delay
        self._next: float | None = None  # the next pause, once drawn

    @property
    def tries_left(self) -> bool:
        return self.policy.tries is None or self.failures < self.policy.tries

    def next_delay(self) -> float:
        """The pause before the next try (the same until ``pause`` or ``take_delay``)."""
        if self._next is None:
            jitter = self.policy.jitter
            factor = self.policy.uniform(1 - jitter, 1 + jitter) if jitter else 1.0
            self._next = max(0.0, min(self._base, self.policy.max_delay) * factor)
        return self._next

    def take_delay(self) -> float:
        """The pause before the next try; the one after grows by ``backoff``. For loops that
        schedule the next try instead of sleeping (the async pipeline)."""
        delay = self.next_delay()
        self._next = None
        self._base = min(self._base * self.policy.backoff, self.policy.max_delay)
        return delay

    def failed(self) -> bool:
        """Count a failed attempt; True when another may follow: tries are left and the
        pause before it ends before the deadline."""
        self.failures += 1
        return self.tries_left and self.policy.clock() + self.next_delay() < self.deadline

    def pause(self, stop: threading.Event | None = None) -> bool:
        """Sleep the pause before the next try; with ``stop``, wake early when it is set
        (then True)."""
        delay = self.take_delay()
        if stop is not None:
            return stop.wait(delay)
        self.policy.sleep(delay)
        return False

    def after_failure(self, err: SkyLockError, *, idempotent: bool, closed: bool, no_leader: NoLeader | None,
                      several_servers: bool) -> Verdict:
        """Count a failed attempt of a request and apply the rule, the tries used up counting
        as a deadline passed."""
        self.failures += 1
        now = self.policy.clock()
        deadline = self.deadline if self.tries_left else now
        return after_failure(err, idempotent=idempotent, closed=closed, now=now, deadline=deadline,
                             backoff=self.next_delay(), no_leader=no_leader, several_servers=several_servers)
