"""docs/PROTOCOL.md is enough to write a client: this test is one, with nothing but
raw pyzmq and msgpack, doing the document's complete exchange and more."""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

import msgpack
import zmq

from tests.integration.cluster import LocalCluster


class DocClient:
    """Exactly what the document says: a DEALER, one msgpack map per frame, match replies by id."""

    def __init__(self, address: str) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.ROUTING_ID, os.urandom(16))
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(f"tcp://{address}")
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def recv(self) -> dict[str, Any]:
        assert self.sock.poll(10000), "no frame within 10 s"
        return msgpack.unpackb(self.sock.recv(), raw=False)

    def call(self, op: str, **args: Any) -> Any:
        self.next_id += 1
        self.sock.send(msgpack.packb({"v": 1, "id": self.next_id, "op": op, "args": args}, use_bin_type=True))
        while True:
            msg = self.recv()
            if "watch" in msg:
                self.events.append(msg)
                continue
            assert msg["v"] == 1 and msg["id"] == self.next_id
            if "err" in msg:
                return ("error", msg["err"]["code"])
            return msg["ok"]

    def event(self) -> dict[str, Any]:
        return self.events.pop(0) if self.events else self.recv()

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()


def test_the_documented_exchange_and_every_op_family(cluster: LocalCluster) -> None:
    a = DocClient(cluster.address(1))
    b = DocClient(cluster.address(2))
    try:
        assert "node_id" in a.call("ping")
        opened = a.call("session.open", client_id="svc-a", ttl_ms=10000)
        sid = opened["session_id"]
        assert opened["ttl_ms"] == 10000
        assert a.call("create", path="/services")["path"] == "/services"
        created = a.call("create", path="/services/a", data="up", ephemeral=True, session_id=sid)
        assert created["stat"]["ephemeral_owner"] == opened["public_id"] != sid
        got = a.call("get", path="/services/a", watch=True)
        assert got["data"] == b"up" and got["zxid"] >= created["stat"]["czxid"]
        changed = b.call("set", path="/services/a", data=b"busy")
        event = a.event()
        assert event["watch"] == got["watch_id"]
        assert event["event"] == {"type": "data_changed", "path": "/services/a", "zxid": changed["stat"]["mzxid"]}
        assert a.call("session.heartbeat", session_id=sid)["ttl_ms"] == 10000

        seq = b.call("create", path="/services/job-", sequential=True)["path"]
        assert re.fullmatch(r"/services/job-\d{10}", seq)
        kids = b.call("children", path="/services", stat=True, consistency="local")
        assert kids["children"] == ["a", seq.rsplit("/", 1)[1]] and kids["stat"]["num_children"] == 2
        assert b.call("multi", ops=[{"op": "check", "path": "/services/a", "version": 1},
                                    {"op": "delete", "path": seq}])["results"]
        assert b.call("exists", path=seq)["stat"] is None

        watch = b.call("watch.add", path="/services", kind="recursive")
        a.call("create", path="/services/c", data=b"")
        assert b.event()["event"]["type"] == "created"
        assert b.call("watch.remove", watch_id=watch["watch_id"]) == {"removed": True}
        resumed = b.call("watch.add", path="/services", kind="recursive", from_zxid=watch["zxid"])
        replay = b.event()
        assert replay["watch"] == resumed["watch_id"] and replay["event"]["path"] == "/services/c"

        grant = a.call("lock.acquire", name="doc", session_id=sid, owner="svc-a", timeout_ms=5000,
                       request_id=uuid.uuid4().hex)
        assert grant["lock_id"].startswith("lock-") and grant["token"] > 0
        holder = b.call("lock.info", name="doc")["holder"]
        assert holder["session"] == opened["public_id"] and grant["lock_id"].startswith(holder["entry"] + ".")
        assert a.call("lock.release", name="doc", session_id=sid, lock_id=grant["lock_id"])["released"]

        status = b.call("cluster.status")
        assert len(status["nodes"]) == 3 and status["leader"] == b.call("cluster.leader")["leader_id"]
        a.call("session.close", session_id=sid)
        assert b.call("exists", path="/services/a")["stat"] is None
        assert b.call("session.heartbeat", session_id=sid) == ("error", "SessionExpired")
        assert b.call("no.such.op") == ("error", "BadRequest")
    finally:
        a.close()
        b.close()
