from __future__ import annotations

from collections.abc import Iterator

import pytest

from skylock.config import load_config
from tests.http.rest import Rest
from tests.integration.cluster import LocalCluster, running_cluster


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One running 3-node cluster shared by the HTTP tests (each test uses its own paths)."""
    with running_cluster(tmp_path_factory.mktemp("http-cluster")) as c:
        yield c


def http_port(cluster: LocalCluster, node_id: int) -> int:
    return load_config(cluster.configs[node_id - 1]).me.http_port


@pytest.fixture(scope="package")
def api(cluster: LocalCluster) -> Rest:
    """The REST API of node 1."""
    return Rest(http_port(cluster, 1))


@pytest.fixture(scope="package")
def follower_api(cluster: LocalCluster) -> Rest:
    """The REST API of a node that is not the leader."""
    leader = cluster.leader()
    return Rest(http_port(cluster, next(n for n in (1, 2, 3) if n != leader)))
