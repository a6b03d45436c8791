"""What each outcome of a lock release attempt means, for ``Client`` and ``AsyncClient`` alike.

A release is sent again after a lost reply; a retry that finds the entry gone counts as
released (an earlier attempt removed it). If it stays unconfirmed, it is remembered per
(lock, session), and that session's next acquire of the lock sends it again first, so a
release that applies late can never revoke a later grant.
"""

from __future__ import annotations

from typing import Any

from skylock.errors import ConnectionLost, NoNode

#: (lock name, session id) -> lock id whose release may or may not have applied
Unconfirmed = dict[tuple[str, str], str]


class Release:
    def __init__(self, unconfirmed: Unconfirmed, name: str, session_id: str, lock_id: str) -> None:
        self._unconfirmed = unconfirmed
        self._key = (name, session_id)
        self.name, self.lock_id = name, lock_id
        #: an attempt may have applied: a later NoNode then means released
        self._maybe_applied = False

    def confirmed(self, result: Any) -> dict[str, Any]:
        self._unconfirmed.pop(self._key, None)
        return dict(result)

    def entry_gone(self, err: NoNode) -> dict[str, Any]:
        """The server has no such entry: released by an earlier attempt, or never ours."""
        self._unconfirmed.pop(self._key, None)
        if self._maybe_applied:
            return {"released": self.lock_id, "next_holder": None}
        raise err

    def reply_lost(self, err: ConnectionLost) -> None:
        self._maybe_applied = self._maybe_applied or err.details.get("sent") is not False

    def outcome_unknown(self) -> None:
        """``NoLeader`` or ``Timeout``: the proposal may still apply."""
        self._maybe_applied = True

    def unconfirmed(self) -> ConnectionLost:
        """Give up: remembered for the next acquire; the error to raise."""
        self._unconfirmed[self._key] = self.lock_id
        return ConnectionLost(f"lock {self.name}: release of {self.lock_id} unconfirmed", sent=True)
