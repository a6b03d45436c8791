"""The Store serves the client socket on its own thread: a request enters there, and an
answer sent from there leaves at once, with no other thread in between; the socket
closes when the Store stops."""

from __future__ import annotations

import threading

import zmq

from skylock.actors.outbox import Outbox
from skylock.actors.store import Store
from skylock.net.client_server import ClientServer
from skylock.state import StateMachine
from tests.net.netutil import wait_until


def test_requests_enter_and_answers_leave_on_the_stores_thread() -> None:
    entered: list[threading.Thread] = []
    server: ClientServer

    def on_request(conn_id: bytes, frame: bytes) -> None:
        entered.append(threading.current_thread())
        server.send(conn_id, b"answer to " + frame)

    server = ClientServer("127.0.0.1:0", on_request, hosted=True)
    store = Store.start(1, StateMachine(), 0, Outbox(server.send), 1000, 1 << 20, client_io=server.loop)
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    try:
        store.proxy().open_sockets().get()
        dealer.connect(f"tcp://{server.address}")
        dealer.send(b"ping")
        assert dealer.poll(10_000), "no answer within 10 s"
        assert dealer.recv() == b"answer to ping"
        assert len(entered) == 1 and entered[0].name.startswith("Store-")  # pykka names actor threads
        # counted just after the send, on the Store's thread: the answer may arrive first
        wait_until(lambda: server.stats()["sent"] == 1, what="the answer counted as sent")
        assert server.stats()["received"] == 1
        assert not any(t.name.startswith("client-io") for t in threading.enumerate())
    finally:
        store.stop()
        dealer.close()
        ctx.term()
