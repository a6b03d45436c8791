"""Parallel test workers (pytest-xdist) each pick ports from a range of their own
(``SKYLOCK_PORTS``, read by ``skylock.layout.free_ports``): a port chosen by one worker is
never chosen by another in the second before its node binds it. The ranges share out
11000-31000, below the kernel's ephemeral ports (32768 up), which outgoing connections take."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from skylock.layout import PORTS_ENV
from tests.integration.cluster import LocalCluster

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and PORTS_ENV not in os.environ:
    _count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    _size = 20000 // _count
    _lo = 11000 + int(_worker[2:]) * _size
    os.environ[PORTS_ENV] = f"{_lo}-{_lo + _size}"


#: lines of each node's log a failed test's report shows
LOG_TAIL = 60


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A test that fails while a cluster runs gets the tail of each node's log in its report:
    on CI that is all there is to read afterwards."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for name, value in getattr(item, "funcargs", {}).items():
        if not isinstance(value, LocalCluster):
            continue
        for log in sorted(value.root.glob("node*.log")):
            tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL:]
            report.sections.append((f"{name}: {log.name}, last {len(tail)} lines", "\n".join(tail)))
