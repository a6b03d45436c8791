"""The SkyLock client library: ``Client(servers)`` and its typed errors."""

from skylock.client.client import Client, Event, SessionState
from skylock.errors import (BadPath, BadRequest, BadVersion, Compacted, ConnectionLost, NoChildrenForEphemerals,
                            NodeExists, NoLeader, NoNode, NotEmpty, NotOwner, SessionExpired, SkyLockError,
                            Timeout, TooLarge)

__all__ = [
    "BadPath", "BadRequest", "BadVersion", "Client", "Compacted", "ConnectionLost", "Event",
    "NoChildrenForEphemerals", "NoLeader", "NoNode", "NodeExists", "NotEmpty", "NotOwner", "SessionExpired",
    "SessionState", "SkyLockError", "Timeout", "TooLarge",
]
