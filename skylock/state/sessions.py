"""The sessions table: which client sessions are open, as agreed through the log.

Only opening and closing are replicated; liveness (heartbeats, deadlines) is
the SessionManager's business and never reaches this table. A session's
ephemeral nodes are indexed by the data tree, not here, so there is one owner
of that fact.

Every session has two names, as in ZooKeeper (session id vs. password):

- ``session_id``, the *secret*: a bearer credential the proposer generates and
  hands only to the session's creator. Whoever presents it acts as the session
  (heartbeat, close, ephemerals, locks), so it never appears in anything that
  other clients can read.
- ``public_id``: what everyone else sees (a node's ``ephemeral_owner``, lock
  holders and waiters, ``session_closed`` events). It is the open entry's zxid
  in 16 hex digits: deterministic on every replica, unique because zxids only
  grow, and useless as a credential because no operation accepts it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from skylock.errors import BadRequest, SessionExpired

from .journal import Txn

#: What a session id presented by a client may look like; anything else is ``BadRequest``
#: (an id of the right shape that is not open, a public id among them, is ``SessionExpired``).
_SESSION_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


def public_id_for(zxid: int) -> str:
    """The public id of the session opened by entry ``zxid``."""
    return f"{zxid:016x}"


def validate_session_id(session_id: object) -> str:
    if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
        raise BadRequest(f"malformed session id {str(session_id)[:40]!r}: use 1-128 of A-Z a-z 0-9 _ . : -")
    return session_id


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str  # the secret
    public_id: str
    client_id: str
    ttl_ms: int


class SessionTable:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}  # secret -> session
        self._by_public: dict[str, str] = {}  # public id -> secret

    def get(self, session_id: str) -> Session | None:
        """The session whose *secret* is ``session_id``."""
        return self._sessions.get(session_id)

    def require(self, session_id: object) -> Session:
        """The open session whose secret is ``session_id``: ``BadRequest`` if it is malformed,
        ``SessionExpired`` if no open session has it (a public id never does)."""
        session = self._sessions.get(validate_session_id(session_id))
        if session is None:
            raise SessionExpired(f"session {session_id} is not open", session_id=session_id)
        return session

    def by_public(self, public_id: str) -> Session | None:
        secret = self._by_public.get(public_id)
        return self._sessions[secret] if secret is not None else None

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._sessions

    def __len__(self) -> int:
        return len(self._sessions)

    def all(self) -> list[Session]:
        """Every open session, sorted by public id (the order they were opened in)."""
        return [self._sessions[self._by_public[pid]] for pid in sorted(self._by_public)]

    def open(self, txn: Txn, session: Session) -> None:
        self._insert(session)
        txn.undo.record(lambda: self._remove(session))

    def close(self, txn: Txn, session_id: str) -> Session:
        session = self._sessions[session_id]
        self._remove(session)
        txn.undo.record(lambda: self._insert(session))
        return session

    def insert_restored(self, session: Session) -> None:
        if session.public_id in self._by_public:
            raise BadRequest(f"snapshot has two sessions with public id {session.public_id}")
        self._insert(session)

    def _insert(self, session: Session) -> None:
        self._sessions[session.session_id] = session
        self._by_public[session.public_id] = session.session_id

    def _remove(self, session: Session) -> None:
        self._sessions.pop(session.session_id, None)
        self._by_public.pop(session.public_id, None)
