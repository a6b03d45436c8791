"""Typed errors shared by the server, the wire protocol and the client.

Every error has a stable string ``code`` that crosses the wire; the client maps
it back to the same class, so callers catch ``NoNode`` rather than parse text.
"""

from __future__ import annotations

from typing import Any


class SkyLockError(Exception):
    """Base of every error SkyLock reports to a caller."""

    code = "Error"
    #: True when the same request may succeed if simply sent again (maybe elsewhere).
    retryable = False

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"code": self.code, "message": self.message}
        wire.update(self.details)
        return wire


class BadRequest(SkyLockError):
    """Malformed frame, unknown op, missing or ill-typed argument."""

    code = "BadRequest"


class BadPath(BadRequest):
    """A path that is not absolute, has empty or reserved components, or is too long."""

    code = "BadPath"


class TooLarge(BadRequest):
    """Node data or a request larger than the configured limit."""

    code = "TooLarge"


class LimitExceeded(SkyLockError):
    """A configured cap on what clients may make a node hold (open sessions, watches
    per connection or in total) is reached; ``limit`` names the config key. Not retried
    by the client: the caller frees something (closes a session, cancels watches) or
    the operator raises the limit."""

    code = "LimitExceeded"


class NoNode(SkyLockError):
    code = "NoNode"


class NodeExists(SkyLockError):
    code = "NodeExists"


class BadVersion(SkyLockError):
    code = "BadVersion"


class NotEmpty(SkyLockError):
    code = "NotEmpty"


class NoChildrenForEphemerals(SkyLockError):
    code = "NoChildrenForEphemerals"


class SessionExpired(SkyLockError):
    """The session is unknown: never opened, closed, or expired."""

    code = "SessionExpired"


class NotOwner(SkyLockError):
    """A lock release or fenced op by a session that does not hold the lock."""

    code = "NotOwner"


class NotLeader(SkyLockError):
    """This node cannot serve the request now; ``leader`` hints where to go."""

    code = "NotLeader"
    retryable = True


class NoLeader(SkyLockError):
    """The cluster has no leader at the moment (election in progress or no quorum)."""

    code = "NoLeader"
    retryable = True


class Timeout(SkyLockError):
    """The request did not complete in time; its effect is unknown unless stated."""

    code = "Timeout"
    retryable = True


class Compacted(SkyLockError):
    """A watch asked to resume from a zxid older than the retained history."""

    code = "Compacted"


class ConnectionLost(SkyLockError):
    """Client side: no server answered."""

    code = "ConnectionLost"
    retryable = True


class InternalError(SkyLockError):
    code = "InternalError"


class Unauthenticated(SkyLockError):
    """Secure mode: the request carried no token, or one that names no user."""

    code = "Unauthenticated"


class PermissionDenied(SkyLockError):
    """Secure mode: the token's user has no role granting this op on this path."""

    code = "PermissionDenied"


class DamagedBackup(SkyLockError):
    """A backup file (``skylock snapshot save``) fails its checks: truncated, altered or not
    a backup at all. Nothing is restored from it."""

    code = "DamagedBackup"


def _all_subclasses(cls: type[SkyLockError]) -> list[type[SkyLockError]]:
    found: list[type[SkyLockError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


_ALL_ERRORS: list[type[SkyLockError]] = [SkyLockError, *_all_subclasses(SkyLockError)]
ERRORS_BY_CODE: dict[str, type[SkyLockError]] = {c.code: c for c in _ALL_ERRORS}


def error_from_wire(wire: dict[str, Any]) -> SkyLockError:
    """Rebuild the typed error a peer sent; unknown codes become ``SkyLockError``."""
    wire = dict(wire)
    code = str(wire.pop("code", "Error"))
    message = str(wire.pop("message", code))
    cls = ERRORS_BY_CODE.get(code, SkyLockError)
    err = cls(message, **wire)
    if cls is SkyLockError:
        err.code = code
    return err
