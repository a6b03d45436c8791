"""The floor under a replicated write in this design: the same hops as SkyLock's write path
with none of its work, next to the same hops served by one thread per process.

    python bench/write_floor.py            # 3 node processes + a client on loopback, 3000 writes each

Each node is a process. A write goes client -> leader -> both followers (each appends to a
file and fdatasyncs it, then acks) -> leader (its own append fsynced too; a majority of acks
commits) -> apply (a dict set) -> reply. Nothing else: no Raft, no validation, no msgpack.

``threads``  the shape SkyLock has: in the leader, the client socket on an I/O thread of its
             own, a pykka actor owning the peer sockets and the log, another owning the state
             (each hop a pykka message or a ZeroMQ inproc wake-up, as in the node); in a
             follower, the peer socket and the log on one actor, the state on another.
``one``      one thread per process serves every socket, the log and the state.
``tcp``      as ``one``, with plain TCP sockets (length-prefixed frames) instead of ZeroMQ:
             what ZeroMQ's I/O thread, which every ZeroMQ message crosses at each end, costs.

What the three print is how much of a write's latency is the architecture's before any of
SkyLock's own code runs; bench/RESULTS.md compares it with ZooKeeper's W1 on the same machine.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import select
import socket
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import pykka
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cpu_per_op import totals  # noqa: E402
from skylock.layout import free_ports  # noqa: E402

VALUE = b"x" * 100
WRITES = 3000


class Log:
    """An append-only file made durable with fdatasync, as the WAL does."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def append(self, record: bytes) -> None:
        os.write(self.fd, record)
        os.fdatasync(self.fd)


class Replication:
    """The leader's side: send a write to both followers, append it, and tell which write a
    majority (our durable copy and one ack) has just committed."""

    def __init__(self, peers: list[zmq.Socket], log: Log) -> None:
        self.peers, self.log = peers, log
        self.waiting: dict[bytes, list] = {}
        self.seq = 0

    def propose(self, ident: bytes, payload: bytes) -> None:
        self.seq += 1
        key = self.seq.to_bytes(8, "big")
        for p in self.peers:
            p.send_multipart([key, payload])
        self.log.append(payload)
        self.waiting[key] = [ident, payload, 1]  # our own copy counts once durable

    def on_ack(self, sock: zmq.Socket) -> tuple[bytes, bytes] | None:
        key, _ = sock.recv_multipart()
        entry = self.waiting.get(key)
        if entry is None:
            return None
        entry[2] += 1
        if entry[2] < 2:  # a majority of three
            return None
        del self.waiting[key]
        return entry[0], entry[1]


# ---------------------------------------------------------------- one thread per process


def follower_one(port: int, data: Path) -> None:
    ctx = zmq.Context()
    peer = ctx.socket(zmq.ROUTER)
    peer.bind(f"tcp://127.0.0.1:{port}")
    log, state = Log(data / f"f{port}.log"), {}
    while True:
        ident, seq, payload = peer.recv_multipart()
        if payload == b"stop":
            return
        log.append(payload)
        peer.send_multipart([ident, seq, b"ack"])
        state[b"k"] = payload  # a follower applies once it hears the commit; kept off the path here


def leader_one(client_port: int, follower_ports: list[int], data: Path) -> None:
    ctx = zmq.Context()
    clients = ctx.socket(zmq.ROUTER)
    clients.bind(f"tcp://127.0.0.1:{client_port}")
    peers = []
    for port in follower_ports:
        sock = ctx.socket(zmq.DEALER)
        sock.connect(f"tcp://127.0.0.1:{port}")
        peers.append(sock)
    poller = zmq.Poller()
    poller.register(clients, zmq.POLLIN)
    for sock in peers:
        poller.register(sock, zmq.POLLIN)
    replication, state = Replication(peers, Log(data / "leader.log")), {}
    while True:
        for sock, _ in poller.poll():
            if sock is clients:
                ident, payload = clients.recv_multipart()
                if payload == b"stop":
                    for p in peers:
                        p.send_multipart([b"0", b"stop"])
                    return
                replication.propose(ident, payload)
            else:
                committed = replication.on_ack(sock)
                if committed is not None:
                    state[b"k"] = committed[1]
                    clients.send_multipart([committed[0], b"ok"])


# ---------------------------------------------------------------- plain TCP, no ZeroMQ


def send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(len(payload).to_bytes(4, "big") + payload)


def recv_frame(sock: socket.socket) -> bytes:
    header = recv_exact(sock, 4)
    return recv_exact(sock, int.from_bytes(header, "big"))


def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def accept_one(port: int) -> socket.socket:
    with socket.create_server(("127.0.0.1", port)) as server:
        conn, _ = server.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def connect_to(port: int) -> socket.socket:
    deadline = time.monotonic() + 10
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def follower_tcp(port: int, data: Path) -> None:
    leader = accept_one(port)
    log, state = Log(data / f"f{port}.log"), {}
    while True:
        frame = recv_frame(leader)
        if frame == b"stop":
            return
        log.append(frame[8:])
        send_frame(leader, frame[:8])
        state[b"k"] = frame[8:]


def leader_tcp(client_port: int, follower_ports: list[int], data: Path) -> None:
    peers = [connect_to(port) for port in follower_ports]
    client = accept_one(client_port)
    log, state = Log(data / "leader.log"), {}
    waiting: dict[bytes, list] = {}
    seq = 0
    while True:
        readable, _, _ = select.select([client, *peers], [], [])
        for sock in readable:
            if sock is client:
                payload = recv_frame(client)
                if payload == b"stop":
                    for p in peers:
                        send_frame(p, b"stop")
                    return
                seq += 1
                key = seq.to_bytes(8, "big")
                for p in peers:
                    send_frame(p, key + payload)
                log.append(payload)
                waiting[key] = [payload, 1]  # our own copy counts once durable
            else:
                entry = waiting.get(recv_frame(sock))
                if entry is None:
                    continue
                entry[1] += 1
                if entry[1] == 2:  # a majority of three; the late ack finds it gone
                    state[b"k"] = entry[0]
                    send_frame(client, b"ok")


# ---------------------------------------------------------------- the actor shape


class Mailbox:
    """What other threads hand to a socket-serving thread: a queue and an inproc wake-up
    (SkyLock's SocketInbox and IOLoop outbox work this way)."""

    def __init__(self, ctx: zmq.Context, name: str) -> None:
        self.lock = threading.Lock()
        self.queue: deque[object] = deque()
        self.rx = ctx.socket(zmq.PAIR)
        self.rx.bind(f"inproc://{name}")
        self.tx = ctx.socket(zmq.PAIR)
        self.tx.connect(f"inproc://{name}")

    def post(self, item: object) -> None:
        with self.lock:
            self.queue.append(item)
            self.tx.send(b"")

    def take(self) -> list[object]:
        self.rx.recv()
        with self.lock:
            items = list(self.queue)
            self.queue.clear()
        return items


class StateActor(pykka.ThreadingActor):
    """Owns the state (the Store); in the leader, answers each write through the client thread."""

    def __init__(self, replies: Mailbox | None = None) -> None:
        super().__init__()
        self.state: dict[bytes, bytes] = {}
        self.replies = replies

    def on_receive(self, message: object) -> None:
        if isinstance(message, tuple):
            ident, payload = message
            self.state[b"k"] = payload
            assert self.replies is not None
            self.replies.post([ident, b"ok"])
        else:
            self.state[b"k"] = message  # type: ignore[assignment]


def follower_threads(port: int, data: Path) -> None:
    """The peer socket and the log on one thread (RaftNode), the state on an actor (Store)."""
    state = StateActor.start()
    peer = zmq.Context.instance().socket(zmq.ROUTER)
    peer.bind(f"tcp://127.0.0.1:{port}")
    log = Log(data / f"f{port}.log")
    while True:
        ident, seq, payload = peer.recv_multipart()
        if payload == b"stop":
            os._exit(0)
        log.append(payload)
        peer.send_multipart([ident, seq, b"ack"])
        state.tell(payload)


def leader_raft(mailbox: Mailbox, follower_ports: list[int], data: Path, state: pykka.ActorRef) -> None:
    """RaftNode: the peer sockets and the log, served on one thread with its mailbox."""
    ctx = zmq.Context.instance()
    peers = []
    poller = zmq.Poller()
    poller.register(mailbox.rx, zmq.POLLIN)
    for port in follower_ports:
        sock = ctx.socket(zmq.DEALER)
        sock.connect(f"tcp://127.0.0.1:{port}")
        peers.append(sock)
        poller.register(sock, zmq.POLLIN)
    replication = Replication(peers, Log(data / "leader.log"))
    while True:
        for sock, _ in poller.poll():
            if sock is mailbox.rx:
                for ident, payload in mailbox.take():  # type: ignore[misc]
                    replication.propose(ident, payload)
            else:
                committed = replication.on_ack(sock)
                if committed is not None:
                    state.tell(committed)


def leader_threads(client_port: int, follower_ports: list[int], data: Path) -> None:
    """The client socket on an I/O thread of its own (the gateway), RaftNode, the Store."""
    ctx = zmq.Context.instance()
    replies, proposals = Mailbox(ctx, "replies"), Mailbox(ctx, "proposals")
    state = StateActor.start(replies)
    threading.Thread(target=leader_raft, args=(proposals, follower_ports, data, state), daemon=True).start()
    clients = ctx.socket(zmq.ROUTER)
    clients.bind(f"tcp://127.0.0.1:{client_port}")
    poller = zmq.Poller()
    poller.register(clients, zmq.POLLIN)
    poller.register(replies.rx, zmq.POLLIN)
    while True:
        events = dict(poller.poll())
        if replies.rx in events:
            for frames in replies.take():
                clients.send_multipart(frames)  # type: ignore[arg-type]
        if clients in events:
            ident, payload = clients.recv_multipart()
            if payload == b"stop":
                for port in follower_ports:
                    stop = ctx.socket(zmq.DEALER)
                    stop.connect(f"tcp://127.0.0.1:{port}")
                    stop.send_multipart([b"0", b"stop"])
                time.sleep(0.2)  # let the stop frames leave before the process ends
                os._exit(0)
            proposals.post((ident, payload))


# ---------------------------------------------------------------- driver


def run(shape: str, ports: list[int], data: Path) -> tuple[list[float], dict[str, tuple[float, float]]]:
    """The sorted latencies, and per node (leader, follower) its CPU microseconds and context
    switches per write over the measured writes."""
    follower, leader = {"one": (follower_one, leader_one), "tcp": (follower_tcp, leader_tcp),
                        "threads": (follower_threads, leader_threads)}[shape]
    procs = [mp.Process(target=leader, args=(ports[0], ports[1:], data)),
             mp.Process(target=follower, args=(ports[1], data)), mp.Process(target=follower, args=(ports[2], data))]
    for p in procs:
        p.start()
    ctx = zmq.Context()
    if shape == "tcp":
        conn = connect_to(ports[0])
        send, recv = (lambda payload: send_frame(conn, payload)), (lambda: recv_frame(conn))
    else:
        client = ctx.socket(zmq.DEALER)
        client.connect(f"tcp://127.0.0.1:{ports[0]}")
        send, recv = client.send, client.recv
    latencies = []
    before: list[tuple[float, int]] = []
    for i in range(300 + WRITES):
        if i == 300:
            before = [totals(p.pid) for p in procs]  # type: ignore[arg-type]
        start = time.perf_counter()
        send(VALUE)
        recv()
        if i >= 300:
            latencies.append(time.perf_counter() - start)
    after = [totals(p.pid) for p in procs]  # type: ignore[arg-type]
    send(b"stop")
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
    if shape == "tcp":
        conn.close()
    else:
        client.close(linger=0)
    ctx.term()
    cost = {role: ((after[i][0] - before[i][0]) / WRITES * 1e6, (after[i][1] - before[i][1]) / WRITES)
            for i, role in ((0, "leader"), (1, "follower"))}
    return sorted(latencies), cost


def main() -> None:
    for shape in ("threads", "one", "tcp", "threads", "one", "tcp"):
        with tempfile.TemporaryDirectory(prefix="skylock-floor-") as tmp:
            lat, cost = run(shape, free_ports(3), Path(tmp))
        print(f"{shape:8s} p50 {lat[len(lat) // 2] * 1000:.3f} ms  p90 {lat[int(len(lat) * 0.9)] * 1000:.3f} ms"
              f"  ({WRITES} writes); per write: " + ", ".join(
                  f"{role} {cpu:.0f} us cpu, {switches:.1f} cs" for role, (cpu, switches) in cost.items()))


if __name__ == "__main__":
    main()
