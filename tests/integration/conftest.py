from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cluster import LocalCluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A running 3-node cluster with an elected leader."""
    c = LocalCluster(tmp_path)
    c.start()
    try:
        c.leader()
        yield c
    finally:
        c.close()
