"""The immutable messages the actors of one node exchange.

Reading this file top to bottom is the map of a node: who tells whom what.
Every message is a frozen dataclass; actors reply by telling another actor or
by sending a frame through a ``Reply`` handle, never by a blocking ask.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable

from skylock.raft import Entry, Message, Snapshot

# ---- replies to clients -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplyTo:
    """Where the answer to one client request goes: a connection and the request id;
    and, for the request latency metric, its op and when it arrived (``time.monotonic``,
    0: not measured)."""

    conn_id: bytes
    request_id: int
    op: str = ""
    started: float = 0.0


@dataclass(frozen=True, slots=True)
class Query:
    """A read served by the Store: ``op`` is a client op name, ``args`` its parsed arguments."""

    op: str
    args: dict[str, Any]
    reply: ReplyTo


# ---- clock ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick:
    """One Raft tick (``raft.heartbeat_interval``) from the node's ticker thread."""

    now: float


# ---- to RaftNode -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerRaftMessage:
    """A Raft message received from a peer (already decoded by the I/O thread)."""

    message: Message


@dataclass(frozen=True, slots=True)
class PeerUnreachable:
    """The peer transport could not hand messages to ``peer`` (no connection, or its queue
    is full); ``snapshot_lost`` when one of them was an InstallSnapshot."""

    peer: int
    snapshot_lost: bool


#: Called on the Store's thread with (result, error) once a proposal applied; it may only
#: tell an actor or reply to a client.
OnResult = Callable[[Any, Any], None]


@dataclass(frozen=True, slots=True)
class Waiter:
    """Who hears a proposal's applied result: the client request at ``reply`` (``op`` names it
    in a ``Timeout``), or ``on_result`` instead of a plain reply. A ``lock.acquire``'s carries
    its request: the Store answers it with a grant, at once or when it stops waiting."""

    reply: ReplyTo
    op: str
    on_result: OnResult | None = None
    lock_request: "WaitForLock | None" = None


@dataclass(frozen=True, slots=True)
class Propose:
    """Put ``command`` through the log (RaftNode's proposal table keeps it until it commits).

    With a ``waiter``, the Store answers it when the entry applies on this node, or the table
    answers ``Timeout`` at ``deadline`` (a monotonic time). Without one, it is proposed until it
    commits; ``leader_only`` drops it once this node stops leading (a leader's duty, e.g. an expiry).
    """

    command: dict[str, Any]
    waiter: Waiter | None = None
    deadline: float | None = None
    leader_only: bool = False


@dataclass(frozen=True, slots=True)
class LinearizableRead:
    """A read that must see every write acknowledged before it: served after ReadIndex.
    ``leader_only``: refused with ``NotLeader`` on a follower (a backup is taken on the leader)."""

    query: Query
    leader_only: bool = False


@dataclass(frozen=True, slots=True)
class SnapshotTaken:
    """The Store serialized its state at ``index``: RaftNode persists it and compacts."""

    index: int
    data: bytes


@dataclass(frozen=True, slots=True)
class OwnStatusAsk:
    """This node's own Raft view, for the HTTP probe: ``answer`` gets ``RaftNode.own_status``.
    A told message, not a pykka ask: an ask bypasses ``on_receive``, so one arriving last
    would leave the Ready of the inputs stepped before it to the next input."""

    answer: Future[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """``cluster.status`` (``gather=True``: ask every peer too) or ``cluster.leader``."""

    reply: ReplyTo
    gather: bool


@dataclass(frozen=True, slots=True)
class MemberRequest:
    """A membership op (``member.*``, ``leader.transfer``) with its checked arguments."""

    op: str
    args: dict[str, Any]
    reply: ReplyTo


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """A peer's answer to a status round."""

    round_id: int
    status: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PeerStatusRequest:
    """A peer asks for this node's status."""

    frm: int
    round_id: int


# ---- to Store --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApplyEntries:
    """Committed entries, in log order, and the waiters of those this node proposed (by index)."""

    entries: tuple[Entry, ...]
    waiters: dict[int, Waiter] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RestoreSnapshot:
    """Replace the whole state with a snapshot (InstallSnapshot or startup)."""

    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class ServeReads:
    """ReadIndex confirmed ``index``: serve these queries once applied >= index."""

    index: int
    queries: tuple[Query, ...]


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """This node has applied everything a leader had committed when it was asked, for the
    first time since the node started: from now on its state may answer local reads."""


@dataclass(frozen=True, slots=True)
class LocalRead:
    """A sequentially consistent read served from this node's applied state."""

    query: Query


# ---- to SessionManager ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A client keepalive for ``session_id``, received by this node."""

    session_id: str
    reply: ReplyTo | None


@dataclass(frozen=True, slots=True)
class PeerTouches:
    """Heartbeats a follower collected, forwarded to the leader as one numbered batch."""

    frm: int
    batch_id: int
    session_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TouchesConfirmed:
    """The leader's leadership was confirmed (ReadIndex) after batch ``batch_id`` from ``frm``
    arrived: it may acknowledge the batch."""

    frm: int
    batch_id: int


@dataclass(frozen=True, slots=True)
class PeerTouchesAcked:
    """The leader took batch ``batch_id`` of a follower's ``PeerTouches``."""

    frm: int
    batch_id: int


@dataclass(frozen=True, slots=True)
class SessionsChanged:
    """The applied session table changed: sessions opened (secret id -> ttl_ms, and
    secret id -> public id in ``public``) and closed (by public id, as events name them).

    ``reset`` is True when ``opened`` is the whole table (startup / snapshot).
    """

    opened: dict[str, int] = field(default_factory=dict)
    closed: tuple[str, ...] = ()
    reset: bool = False
    public: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LeadershipChanged:
    leader: int
    term: int
    is_leader: bool


@dataclass(frozen=True, slots=True)
class CheckSessions:
    """Periodic deadline check (``session.check_interval``). ``heard_until``: the client
    frames that reached this node before it have been read and handed on (the heartbeats
    among them are ahead of this message); None: all of them. A node whose client socket
    went unread for long (a snapshot of a large tree on the Store's thread, which reads
    it) expires nothing meanwhile, since heartbeats may wait there unread."""

    now: float
    heard_until: float | None = None


# ---- to WatchHub ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddWatch:
    """Register a watch, sent by the Store so it is ordered with the events it applies.

    ``from_zxid``: replay retained events after it first; ``current_zxid`` is the
    applied zxid at registration (the point from which live events follow).
    """

    watch_id: int
    conn_id: bytes
    path: str
    kind: str
    session_id: str | None
    from_zxid: int | None
    current_zxid: int
    reply: ReplyTo | None
    #: a read that sets the watch: the hub answers ``reply`` with it once the watch is
    #: accepted (or with ``LimitExceeded``), so a refused watch never looks set
    result: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RemoveWatch:
    watch_id: int
    reply: ReplyTo | None


@dataclass(frozen=True, slots=True)
class PublishEvents:
    """Events produced by applying entries (in zxid order)."""

    events: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class HistoryReset:
    """The store was restored from a snapshot at ``zxid``: older events are gone."""

    zxid: int


@dataclass(frozen=True, slots=True)
class ConnectionOverflowed:
    """A client read its connection too slowly: frames held back for it were dropped."""

    conn_id: bytes


@dataclass(frozen=True, slots=True)
class ConnectionsSeen:
    """These connections sent something lately (reported by the client server)."""

    conn_ids: frozenset[bytes]


@dataclass(frozen=True, slots=True)
class SweepWatches:
    """Timer: end the watches of connections silent for longer than the idle limit."""


# ---- to LockManager ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WaitForLock:
    """A client's ``lock.acquire``; ``started`` (monotonic) starts its timeout."""

    name: str
    session_id: str
    owner: str
    request_id: str
    timeout_ms: int
    reply: ReplyTo
    started: float
    #: how long the lock stays ungranted if this session expires while holding it
    lock_delay_ms: int = 0


@dataclass(frozen=True, slots=True)
class LockChange:
    """One lock as an apply left it, in O(1) of its queue's length: the entry holding it (None
    while free or delayed), its pending delay, how many entries are queued, and the entries that
    left the queue in that apply. After a snapshot restore, entries may vanish without an event:
    ``queue`` then names every entry still queued, and any other is gone."""

    holder: str | None
    delay: dict[str, Any] | None
    queued: int
    left: frozenset[str] = frozenset()
    queue: frozenset[str] | None = None

    def gone(self, entry: str) -> bool:
        """Did ``entry`` leave the queue?"""
        return entry in self.left or (self.queue is not None and entry not in self.queue)


@dataclass(frozen=True, slots=True)
class LocksChanged:
    """The applied queues of these locks changed (told by the Store to the LockManager after an
    apply that started or ended a lock-delay)."""

    locks: dict[str, LockChange]


@dataclass(frozen=True, slots=True)
class CheckLocks:
    """The lock clock's tick: the Store times out lock waits, the LockManager ends lock-delays."""

    now: float
