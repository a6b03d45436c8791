"""One real 3-node cluster per test module (starting one costs seconds on 2 cores);
tests keep apart by using their own paths, lock names and sessions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.cluster import LocalCluster, running_cluster
from tests.integration.conftest import cluster as fresh_cluster  # noqa: F401 - for tests that break the cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as c:
        yield c
