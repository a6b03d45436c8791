"""Test-only fault injection for one node without network namespaces.

``skylock serve --fault-control FILE`` starts a ``FaultControl`` that polls FILE
(JSON: ``{"blocked": [peer ids], "loss": 0.0..1.0}``) and installs a matching
``PeerTransport.set_filter``: messages to or from a blocked peer are dropped, and
every other peer message is dropped with probability ``loss``. A missing or
unreadable file means no faults. Nothing of this runs unless the flag is given.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from pathlib import Path

from skylock.net.peer_transport import PeerTransport

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.02


def read_faults(path: Path) -> tuple[frozenset[int], float]:
    """(blocked peer ids, loss probability) from ``path``; no faults if it is absent or bad."""
    try:
        spec = json.loads(path.read_text())
        return frozenset(int(p) for p in spec.get("blocked", [])), float(spec.get("loss", 0.0))
    except (OSError, ValueError, TypeError, AttributeError):
        return frozenset(), 0.0


class FaultControl:
    def __init__(self, path: str | Path, transport: PeerTransport) -> None:
        self.path = Path(path)
        self.transport = transport
        self._current: tuple[frozenset[int], float] = (frozenset(), 0.0)
        self._rng = random.Random()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-control", daemon=True)

    def start(self) -> None:
        log.warning("node=%s test-only fault control active, reading %s", self.transport.node_id, self.path)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(POLL_INTERVAL):
            faults = read_faults(self.path)
            if faults != self._current:
                self._current = faults
                self._install(*faults)

    def _install(self, blocked: frozenset[int], loss: float) -> None:
        log.warning("node=%s fault control: blocked=%s loss=%.2f", self.transport.node_id, sorted(blocked), loss)
        if not blocked and loss <= 0:
            self.transport.set_filter(None)
            return
        me, rng = self.transport.node_id, self._rng

        def keep(frm: int, to: int) -> bool:
            other = to if frm == me else frm
            return other not in blocked and (loss <= 0 or rng.random() >= loss)

        self.transport.set_filter(keep)
