"""A client remembers the newest state any answer showed it (a write's entry, a read's
zxid) and sends it as ``min_zxid`` with its local reads, on every connection; nothing
else is stamped. The server side is tests/integration/test_min_zxid.py."""

from __future__ import annotations

import threading
from typing import Any

import msgpack
import zmq

from skylock.client.connection import Connection
from skylock.client.zxid_floor import ZxidFloor
from skylock.net import codec


class FakeServer:
    """A ROUTER that answers each request from ``answers`` by op and records what came."""

    def __init__(self, answers: dict[str, tuple[dict[str, Any], int | None]]) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.address = f"127.0.0.1:{port}"
        self.answers = answers
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self.sock.poll(50):
                continue
            conn_id, frame = self.sock.recv_multipart()
            request = msgpack.unpackb(frame, raw=False)
            self.seen.append((request["op"], request["args"]))
            result, zxid = self.answers.get(request["op"], ({}, None))
            self.sock.send_multipart([conn_id, codec.encode_reply(request["id"], result, zxid)])

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()
        self.ctx.term()


def test_answers_raise_the_floor_and_local_reads_carry_it() -> None:
    server = FakeServer({"set": ({"stat": {}}, 41), "get": ({"data": b"x", "zxid": 57}, None),
                         "exists": ({"stat": None}, None)})
    floor = ZxidFloor()
    conn = Connection(server.address, lambda c, w, e: None, floor=floor)
    try:
        conn.call("exists", {"path": "/a", "consistency": "local"}, 5.0)  # nothing seen yet: no floor
        conn.call("set", {"path": "/a", "data": b"1"}, 5.0)  # a write's entry: 41
        assert floor.zxid == 41
        conn.call("get", {"path": "/a", "consistency": "local"}, 5.0)  # sent with 41; its answer says 57
        conn.request("exists", {"path": "/a", "consistency": "local"}).result(5.0)  # the I/O thread's path
        conn.call("get", {"path": "/a"}, 5.0)  # linearizable: needs no floor
        assert [args.get("min_zxid") for _, args in server.seen] == [None, None, 41, 57, None]
        assert floor.zxid == 57
    finally:
        conn.close()
        server.close()


def test_a_floor_never_goes_down_and_a_read_that_names_its_own_keeps_it() -> None:
    floor = ZxidFloor()
    floor.saw(codec.Reply(1, {}, None, 90))
    floor.saw(codec.Reply(2, {}, None, 12))
    floor.saw(codec.PushedEvent(3, {"zxid": 500}))
    assert floor.zxid == 90
    assert floor.stamp("children", {"path": "/", "consistency": "local"})["min_zxid"] == 90
    assert floor.stamp("get", {"path": "/", "consistency": "local", "min_zxid": 7})["min_zxid"] == 7
    assert "min_zxid" not in floor.stamp("set", {"path": "/", "consistency": "local"})


def test_a_watch_carries_the_floor_so_it_never_reports_a_change_already_seen() -> None:
    floor = ZxidFloor()
    assert "min_zxid" not in floor.stamp("watch.add", {"path": "/", "kind": "recursive"})  # nothing seen
    floor.saw(codec.Reply(1, {}, None, 33))
    assert floor.stamp("watch.add", {"path": "/", "kind": "recursive"})["min_zxid"] == 33
    assert floor.stamp("watch.add", {"path": "/", "kind": "data", "from_zxid": 5})["from_zxid"] == 5
    assert "min_zxid" not in floor.stamp("watch.remove", {"watch_id": 1})
