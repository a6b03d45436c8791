"""The SkyLock client library: ``Client(servers)``, its asyncio twin ``AsyncClient``, its typed
errors, its retry policy (``RetryPolicy``), and the recipes (``Lock``, ``Election``,
``ReadWriteLock``, ``Semaphore``, ``Barrier``, ``DoubleBarrier``, ``Counter``, ``Queue``,
``LockingQueue``, ``Party``, ``ShallowParty``, ``Lease``, ``DataWatch``, ``ChildrenWatch``,
``TreeCache``)."""

from skylock.client.aio import AsyncClient
from skylock.client.aio_watch import AsyncWatch
from skylock.client.barrier import Barrier
from skylock.client.client import Client, Event, SessionState, WatchHandle
from skylock.client.counter import Counter
from skylock.client.double_barrier import DoubleBarrier
from skylock.client.election import Election
from skylock.client.lease import Lease
from skylock.client.lock import Lock
from skylock.client.locking_queue import LockingQueue
from skylock.client.party import Party, ShallowParty
from skylock.client.queue import Queue
from skylock.client.retry import RetryPolicy
from skylock.client.rwlock import ReadWriteLock
from skylock.client.semaphore import Semaphore
from skylock.client.treecache import TreeCache, TreeEvent
from skylock.client.watchers import ChildrenWatch, DataWatch
from skylock.errors import (BadPath, BadRequest, BadVersion, Compacted, ConnectionLost, NoChildrenForEphemerals,
                            NodeExists, NoLeader, NoNode, NotEmpty, NotOwner, SessionExpired, SkyLockError,
                            Timeout, TooLarge)

__all__ = [
    "AsyncClient", "AsyncWatch", "BadPath", "BadRequest", "BadVersion", "Client", "Compacted", "ConnectionLost",
    "Election", "Event", "Lock", "NoChildrenForEphemerals", "NoLeader", "NoNode", "NodeExists", "NotEmpty",
    "NotOwner", "ReadWriteLock", "SessionExpired", "SessionState", "SkyLockError", "Timeout", "TooLarge",
    "WatchHandle",
    # recipes beyond the lock, as kazoo's
    "Barrier", "ChildrenWatch", "Counter", "DataWatch", "DoubleBarrier", "Lease", "LockingQueue", "Party", "Queue",
    "RetryPolicy", "Semaphore", "ShallowParty", "TreeCache", "TreeEvent",
]
