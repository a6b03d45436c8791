"""The SkyLock client library: ``Client(servers)``, its typed errors, its retry policy
(``RetryPolicy``), and the recipes (``Lock``, ``Election``, ``ReadWriteLock``, ``DataWatch``,
``ChildrenWatch``, ``TreeCache``)."""

from skylock.client.client import Client, Event, SessionState, WatchHandle
from skylock.client.election import Election
from skylock.client.lock import Lock
from skylock.client.retry import RetryPolicy
from skylock.client.rwlock import ReadWriteLock
from skylock.client.treecache import TreeCache, TreeEvent
from skylock.client.watchers import ChildrenWatch, DataWatch
from skylock.errors import (BadPath, BadRequest, BadVersion, Compacted, ConnectionLost, NoChildrenForEphemerals,
                            NodeExists, NoLeader, NoNode, NotEmpty, NotOwner, SessionExpired, SkyLockError,
                            Timeout, TooLarge)

__all__ = [
    "BadPath", "BadRequest", "BadVersion", "Client", "Compacted", "ConnectionLost", "Election", "Event", "Lock",
    "NoChildrenForEphemerals", "NoLeader", "NoNode", "NodeExists", "NotEmpty", "NotOwner", "ReadWriteLock", "SessionExpired",
    "SessionState", "SkyLockError", "Timeout", "TooLarge", "WatchHandle",
]
__all__ += ["RetryPolicy"]
__all__ += ["ChildrenWatch", "DataWatch"]
__all__ += ["TreeCache", "TreeEvent"]
