"""The ``AsyncClient``'s session: opened once, kept alive by a heartbeat task.

A heartbeat goes every TTL/3, each try given at most half an interval, so a paused
server cannot eat the TTL's margin; a failed one is sent to the next server at once.
The session counts as alive from when the last *answered* heartbeat was sent (the
leader restarted its deadline after that), so this client never believes it alive
after the cluster may have expired it: a full TTL without an answer makes it
``EXPIRED`` here, as does the cluster's ``SessionExpired``. In between it is
``SUSPENDED``. Listeners hear every change, on the loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from skylock.client.session import SessionRecord, SessionState, StateListener, heartbeat_retries
from skylock.errors import SessionExpired, SkyLockError

if TYPE_CHECKING:
    from skylock.client.aio import AsyncClient

log = logging.getLogger("skylock.client")


class SessionKeeper(SessionRecord):
    def __init__(self, client: "AsyncClient") -> None:
        super().__init__()
        self._client = client
        self.ttl = 0.0
        self._heartbeats: asyncio.Task[None] | None = None

    async def start(self, client_id: str, ttl: float) -> str:
        result = await self._client.call("session.open", client_id=client_id, ttl_ms=int(ttl * 1000))
        self.session_id = str(result["session_id"])
        self.ttl = int(result["ttl_ms"]) / 1000.0
        self._set_state(SessionState.CONNECTED)
        self._stop_heartbeats()
        self._heartbeats = asyncio.get_running_loop().create_task(self._heartbeat_loop(self.session_id))
        return self.session_id

    def _tell(self, listener: StateListener, state: SessionState) -> None:
        """Listeners hear of a change at once, on the loop."""
        try:
            listener(state)
        except Exception:  # noqa: BLE001 - one listener must not stop the others
            log.exception("session listener failed")

    async def _heartbeat_loop(self, session_id: str) -> None:
        client = self._client
        loop = asyncio.get_running_loop()
        interval = self.ttl / 3
        retries = heartbeat_retries(client.retry, interval)
        attempts = retries.start()
        last_ok = loop.time()
        while True:
            await asyncio.sleep(interval if self.state == SessionState.CONNECTED else attempts.take_delay())
            conn = None
            try:
                conn = client._connection()
                sent = loop.time()
                await client._attempt(conn, "session.heartbeat", {"session_id": session_id},
                                      sent + min(client.attempt_timeout, interval / 2))
                last_ok = sent
                attempts = retries.start()
                self._set_state(SessionState.CONNECTED)
            except SessionExpired:
                self._set_state(SessionState.EXPIRED)
                return
            except SkyLockError as err:
                if conn is not None:
                    client._drop_connection(conn)
                if self._heartbeat_failed(err, loop.time() - last_ok, self.ttl):
                    return

    def _stop_heartbeats(self) -> None:
        if self._heartbeats is not None:
            self._heartbeats.cancel()
            self._heartbeats = None

    async def close(self) -> None:
        """Stop the heartbeats and close the session if it may still be open."""
        self._stop_heartbeats()
        if self.session_id is not None and self.state not in (SessionState.EXPIRED, SessionState.CLOSED):
            try:
                await self._client.call("session.close", session_id=self.session_id)
            except SkyLockError as err:
                log.info("session close failed: %s", err)
            self._set_state(SessionState.CLOSED)
