"""The sessions table: which client sessions are open, as agreed through the log.

Only opening and closing are replicated; liveness (heartbeats, deadlines) is
the SessionManager's business and never reaches this table. A session's
ephemeral nodes are indexed by the data tree, not here, so there is one owner
of that fact.
"""

from __future__ import annotations

from dataclasses import dataclass

from .journal import Txn


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    client_id: str
    ttl_ms: int


class SessionTable:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._sessions

    def __len__(self) -> int:
        return len(self._sessions)

    def all(self) -> list[Session]:
        """Every open session, sorted by id."""
        return [self._sessions[sid] for sid in sorted(self._sessions)]

    def open(self, txn: Txn, session: Session) -> None:
        sid = session.session_id
        self._sessions[sid] = session
        txn.undo.record(lambda: self._sessions.pop(sid, None))

    def close(self, txn: Txn, session_id: str) -> Session:
        session = self._sessions.pop(session_id)

        def undo() -> None:
            self._sessions[session_id] = session

        txn.undo.record(undo)
        return session

    def insert_restored(self, session: Session) -> None:
        self._sessions[session.session_id] = session
