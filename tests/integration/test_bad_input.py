"""Bad input gets a clear, typed error, changes nothing, and the node keeps serving.
Driven with raw pyzmq + msgpack, as a client in another language would."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
import zmq

from tests.integration.cluster import LocalCluster


class RawClient:
    def __init__(self, address: str) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.ROUTING_ID, uuid.uuid4().bytes)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, 10000)
        self.sock.connect(f"tcp://{address}")
        self.next_id = 1

    def send_raw(self, *frames: bytes) -> dict[str, Any]:
        self.sock.send_multipart(list(frames))
        return msgpack.unpackb(self.sock.recv(), raw=False)

    def call(self, op: Any, **args: Any) -> dict[str, Any]:
        self.next_id += 1
        return self.send_raw(msgpack.packb({"v": 1, "id": self.next_id, "op": op, "args": args}))

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()


@pytest.fixture
def raw(cluster: LocalCluster) -> Iterator[RawClient]:
    client = RawClient(cluster.address(1))
    yield client
    client.close()


def error_code(reply: dict[str, Any]) -> str:
    assert "err" in reply, reply
    return reply["err"]["code"]


def test_garbage_frame_gets_bad_request(raw: RawClient) -> None:
    assert error_code(raw.send_raw(b"\xc1\xff not msgpack")) == "BadRequest"
    assert error_code(raw.send_raw(msgpack.packb([1, 2, 3]))) == "BadRequest"
    assert error_code(raw.send_raw(msgpack.packb({"v": 99, "id": 5, "op": "ping", "args": {}}))) == "BadRequest"
    assert "ok" in raw.call("ping")


def test_unknown_op_and_bad_arguments_get_bad_request(raw: RawClient) -> None:
    reply = raw.call("launch.missiles")
    assert error_code(reply) == "BadRequest" and "launch.missiles" in reply["err"]["message"]
    assert error_code(raw.call("create")) == "BadRequest"  # no path
    assert error_code(raw.call("create", path=7)) == "BadRequest"
    assert error_code(raw.call("get", path="/", consistency="eventually")) == "BadRequest"
    assert error_code(raw.call("get", path="/", surprise=True)) == "BadRequest"


@pytest.mark.parametrize("path", ["relative", "/trailing/", "/a//b", "/a/./b", "/a/../b", "/nul\x00", ""])
def test_bad_paths_get_bad_path(raw: RawClient, path: str) -> None:
    assert error_code(raw.call("create", path=path, data=b"x")) in ("BadPath", "BadRequest")


def test_oversize_data_and_requests_are_refused(raw: RawClient, cluster: LocalCluster) -> None:
    assert error_code(raw.call("create", path="/big", data=b"x" * ((1 << 20) + 1))) == "TooLarge"
    assert error_code(raw.call("create", path="/huge", data=b"x" * (3 << 20))) == "TooLarge"
    assert cluster.client().exists("/big") is None


def test_unknown_sessions_get_session_expired(raw: RawClient) -> None:
    assert error_code(raw.call("session.heartbeat", session_id="nope")) == "SessionExpired"
    assert error_code(raw.call("session.close", session_id="nope")) == "SessionExpired"
    assert error_code(raw.call("create", path="/e", ephemeral=True, session_id="nope")) == "SessionExpired"


def test_typed_errors_for_tree_rules(raw: RawClient) -> None:
    assert "ok" in raw.call("create", path="/t", data=b"1")
    assert error_code(raw.call("create", path="/t")) == "NodeExists"
    assert error_code(raw.call("create", path="/no/parent")) == "NoNode"
    assert error_code(raw.call("set", path="/t", data=b"2", version=5)) == "BadVersion"
    assert "ok" in raw.call("create", path="/t/c")
    assert error_code(raw.call("delete", path="/t")) == "NotEmpty"
    assert error_code(raw.call("get", path="/missing")) == "NoNode"


def test_plain_writes_under_locks_are_refused(raw: RawClient) -> None:
    """A lock node may change only through lock.acquire/lock.release (owner checked)."""
    session = raw.call("session.open", client_id="holder", ttl_ms=10000)["ok"]["session_id"]
    grant = raw.call("lock.acquire", name="guarded", session_id=session, owner="holder",
                     timeout_ms=1000, request_id="r1")["ok"]
    lock_path = f"/locks/guarded/{grant['lock_id'].split('.')[0]}"
    assert error_code(raw.call("delete", path=lock_path)) == "BadPath"
    assert error_code(raw.call("set", path=lock_path, data=b"mine")) == "BadPath"
    assert error_code(raw.call("create", path="/locks/guarded/lock-0000000000", ephemeral=True,
                               session_id=session)) == "BadPath"
    assert error_code(raw.call("create", path="/locks/other")) == "BadPath"
    assert error_code(raw.call("multi", ops=[{"op": "delete", "path": lock_path}])) == "BadPath"
    info = raw.call("lock.info", name="guarded")["ok"]
    assert lock_path.endswith(info["holder"]["entry"]) and info["holder"]["token"] == grant["token"]
    assert "ok" in raw.call("get", path=lock_path)  # reading and watching stay allowed


def test_node_keeps_serving_after_a_burst_of_bad_frames(raw: RawClient, cluster: LocalCluster) -> None:
    for i in range(200):
        raw.send_raw(bytes([i % 256]) * (i + 1))
    raw.sock.send_multipart([b"one", b"two", b"three"])  # wrong frame count: dropped, no reply
    assert "ok" in raw.call("create", path="/alive", data=b"yes")
    assert cluster.client().get("/alive")[0] == b"yes"
    cluster.wait_converged()
