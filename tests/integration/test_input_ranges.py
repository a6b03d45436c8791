"""A real node refuses out-of-range numbers and unknown keys inside ``multi`` ops with a
BadRequest that names the field, and nothing reaches the log. Raw pyzmq + msgpack, as a
client in another language would send them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cluster import LocalCluster, running_cluster
from tests.integration.test_bad_input import RawClient, error_code

TOO_BIG = 1 << 63  # one past int64


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(Path(tmp_path_factory.mktemp("ranges"))) as c:
        yield c


@pytest.fixture
def raw(cluster: LocalCluster) -> Iterator[RawClient]:
    client = RawClient(cluster.address(1))
    yield client
    client.close()


def _refused(reply: dict, *names: str) -> None:
    assert error_code(reply) == "BadRequest", reply
    for name in names:
        assert repr(name) in reply["err"]["message"], reply


def test_unknown_key_in_a_multi_op_is_refused_and_nothing_is_written(raw: RawClient, cluster: LocalCluster) -> None:
    assert "ok" in raw.call("create", path="/m")
    before = cluster.wait_converged()
    reply = raw.call("multi", ops=[{"op": "create", "path": "/m/a"},
                                   {"op": "set", "path": "/m", "data": b"x", "versoin": 3}])
    _refused(reply, "versoin")
    assert reply["err"]["index"] == 1
    assert error_code(raw.call("get", path="/m/a")) == "NoNode"
    assert cluster.wait_converged() == before
    ok = raw.call("multi", ops=[{"op": "create", "path": "/m/a"}, {"op": "set", "path": "/m", "data": b"x"}])
    assert len(ok["ok"]["results"]) == 2


@pytest.mark.parametrize(("op", "args", "name"), [
    ("delete", {"path": "/r", "version": TOO_BIG}, "version"),
    ("set", {"path": "/r", "data": b"x", "version": (1 << 64) - 1}, "version"),
    ("session.open", {"client_id": "c", "ttl_ms": (1 << 64) - 1}, "ttl_ms"),
    ("watch.add", {"path": "/r", "kind": "data", "from_zxid": TOO_BIG}, "from_zxid"),
    ("lock.acquire", {"name": "r", "session_id": "s", "request_id": "q", "timeout_ms": TOO_BIG}, "timeout_ms"),
    ("multi", {"ops": [{"op": "check", "path": "/r", "version": TOO_BIG}]}, "version"),
    ("delete", {"path": "/r", "version": 1.0}, "version"),
    ("delete", {"path": "/r", "version": True}, "version"),
])
def test_numbers_outside_int64_or_not_ints_are_bad_requests(raw: RawClient, op: str, args: dict,
                                                             name: str) -> None:
    _refused(raw.call(op, **args), name)
    assert "ok" in raw.call("ping")


@pytest.mark.parametrize(("op", "args"), [
    ("lock.release", {"name": "r", "session_id": "s", "lock_id": ""}),
    ("lock.release", {"name": "bad name", "session_id": "s", "lock_id": "lock-0000000001"}),
    ("lock.acquire", {"name": "bad/name", "session_id": "s", "request_id": "q"}),
    ("delete", {"path": "/"}),
    ("multi", {"ops": [{"op": "delete", "path": "/"}]}),
    ("multi", {"ops": [{"op": "check_lock", "name": "", "token": 1, "session_id": "s"}]}),
])
def test_bad_input_is_refused_before_the_log(raw: RawClient, cluster: LocalCluster, op: str, args: dict) -> None:
    """The state machine would refuse these too, but only after they took a log entry."""
    before = cluster.wait_converged()
    applied = cluster.state_hashes()[1][0]
    assert error_code(raw.call(op, **args)) == "BadRequest"
    assert "ok" in raw.call("ping")
    assert cluster.state_hashes()[1] == (applied, before)
