"""Parallel test workers (pytest-xdist) each pick ports from a range of their own
(``SKYLOCK_PORTS``, read by ``skylock.layout.free_ports``): a port chosen by one worker is
never chosen by another in the second before its node binds it. The ranges share out
11000-31000, below the kernel's ephemeral ports (32768 up), which outgoing connections take."""

from __future__ import annotations

import os

from skylock.layout import PORTS_ENV

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and PORTS_ENV not in os.environ:
    _count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    _size = 20000 // _count
    _lo = 11000 + int(_worker[2:]) * _size
    os.environ[PORTS_ENV] = f"{_lo}-{_lo + _size}"
