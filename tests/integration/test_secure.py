"""Secure mode end to end: ``start_cluster.py --secure`` runs 3 real node processes,
and what it prints is all a client needs.

- the SDK and the CLI with the printed credentials write and read;
- a plaintext ZeroMQ client is never answered; a DEALER with an unknown CURVE key is
  refused at the handshake on the peer port (a member's key is let in), and its
  forged frames move no term or commit;
- HTTPS with the CA and the token works, without the token it is 401, plain HTTP fails;
- a second start reuses the keys, the certificates and the token, and the data.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from zmq.utils.monitor import parse_monitor_message

from skylock.client import AsyncClient, Client
from skylock.errors import ConnectionLost, Unauthenticated
from skylock.net import codec
from skylock.net.curve import KeyPair
from skylock.net.peer_codec import encode_raft
from skylock.raft.types import Message, MessageType as MT
from skylock.security import load_credentials
from tests.integration.cluster import wait_until
from tests.integration.launcher import free_base_port

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
#: a term no election in this test comes near
FORGED_TERM = 10**6




class StartedCluster:
    """``start_cluster.py --secure`` as a user runs it; ``exports`` are the lines it printed."""

    def __init__(self, data_dir: Path, base_port: int) -> None:
        self.data_dir = data_dir
        self.base_port = base_port
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> dict[str, str]:
        self.lines = []
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "start_cluster.py"), "--secure", "--base-port", str(self.base_port),
             "--data-dir", str(self.data_dir), "--log-level", "warning"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, start_new_session=True,
        )
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        wait_until(lambda: len(self.exports()) == 2, timeout=120, what="start_cluster to print the exports")
        return self.exports()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def exports(self) -> dict[str, str]:
        pairs = [line.removeprefix("export ").split("=", 1) for line in self.lines if line.startswith("export ")]
        return {k: v for k, v in pairs}

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGINT)  # start_cluster stops its nodes
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own process group: the nodes it started
            proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartedCluster]:
    started = StartedCluster(tmp_path_factory.mktemp("secure") / "data", free_base_port())
    started.start()
    try:
        with credentials_client(started) as client:
            client.create("/secure")
        yield started
    finally:
        started.stop()


def credentials_client(cluster: StartedCluster, **kwargs: object) -> Client:
    exports = cluster.exports()
    return Client(credentials=exports["SKYLOCK_CREDENTIALS"], token=exports["SKYLOCK_TOKEN"],
                  request_timeout=15.0, attempt_timeout=2.0, **kwargs)  # type: ignore[arg-type]


def test_the_sdk_with_the_printed_credentials_writes_and_reads(cluster: StartedCluster,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with credentials_client(cluster) as client:
        client.create("/secure/sdk", b"v1")
        assert client.get("/secure/sdk")[0] == b"v1"
    for name, value in cluster.exports().items():
        monkeypatch.setenv(name, value)
    with Client.from_env(request_timeout=15.0) as client:
        client.set("/secure/sdk", b"v2")
        assert client.get("/secure/sdk")[0] == b"v2"
    monkeypatch.setenv("SKYLOCK_TOKEN", "not-the-token")
    with Client.from_env(request_timeout=5.0) as client:
        with pytest.raises(Unauthenticated):
            client.get("/secure/sdk")


def test_a_plaintext_client_is_never_answered(cluster: StartedCluster) -> None:
    creds = load_credentials(cluster.exports()["SKYLOCK_CREDENTIALS"])
    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(f"tcp://{creds.servers[0]}")
        # even with the right token: the transport itself refuses plaintext
        sock.send(codec.encode_request(1, "ping", {}, token=creds.token))
        assert sock.poll(3000) == 0, "a plaintext client got a reply from a secure node"
        sock.close()
    finally:
        ctx.destroy(linger=0)
    with Client(creds.servers[0], request_timeout=3.0, connect_timeout=0.5) as plain:
        with pytest.raises(ConnectionLost):
            plain.get("/")


def _handshake_events(sock: zmq.Socket, ctx: zmq.Context, name: str) -> zmq.Socket:
    endpoint = f"inproc://handshake-{name}"
    sock.monitor(endpoint, zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
                 | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
    monitor = ctx.socket(zmq.PAIR)
    monitor.setsockopt(zmq.LINGER, 0)
    monitor.connect(endpoint)
    return monitor


def _first_event(monitor: zmq.Socket, timeout: float = 15.0) -> int:
    assert monitor.poll(int(timeout * 1000)), "no handshake outcome within the deadline"
    return int(parse_monitor_message(monitor.recv_multipart())["event"])


def _term_and_commit(client: Client) -> dict[int, tuple[int, int]]:
    """Each node's (term, commit) as it reports them; every node must answer."""
    nodes = client.call("cluster.status")["nodes"]
    assert all(n.get("reachable") for n in nodes), nodes
    return {int(n["id"]): (int(n["term"]), int(n["commit"])) for n in nodes}


def test_an_unknown_curve_key_is_refused_on_the_peer_port(cluster: StartedCluster) -> None:
    data = cluster.data_dir
    node1_peer = f"127.0.0.1:{cluster.base_port + 100}"
    node1_key = KeyPair.load(data / "secure/curve/node1.key_secret").public
    with credentials_client(cluster) as client:
        client.create("/secure/peer", b"x")
        before = wait_until(lambda: _term_and_commit(client), what="every node to report its status")
        leader = int(client.leader()["leader_id"])
        ctx = zmq.Context()
        try:
            stranger = ctx.socket(zmq.DEALER)
            stranger.setsockopt(zmq.LINGER, 0)
            stranger.setsockopt(zmq.ROUTING_ID, b"2")  # a member's id: only the key can stop it
            keys = KeyPair.generate()
            stranger.curve_serverkey, stranger.curve_publickey, stranger.curve_secretkey = (
                node1_key, keys.public, keys.secret)
            monitor = _handshake_events(stranger, ctx, "stranger")
            stranger.connect(f"tcp://{node1_peer}")
            for _ in range(5):
                stranger.send(encode_raft(Message(MT.HEARTBEAT, to=1, frm=2, term=FORGED_TERM)), zmq.NOBLOCK)
            assert _first_event(monitor) == zmq.EVENT_HANDSHAKE_FAILED_AUTH

            # the same handshake with a member's key is let in (so the refusal was the key's)
            member = ctx.socket(zmq.DEALER)
            member.setsockopt(zmq.LINGER, 0)
            member.setsockopt(zmq.ROUTING_ID, b"77")  # no member: anything it sent would be dropped
            member_keys = KeyPair.load(data / "secure/curve/node2.key_secret")
            member.curve_serverkey, member.curve_publickey, member.curve_secretkey = (
                node1_key, member_keys.public, member_keys.secret)
            member_monitor = _handshake_events(member, ctx, "member")
            member.connect(f"tcp://{node1_peer}")
            assert _first_event(member_monitor) == zmq.EVENT_HANDSHAKE_SUCCEEDED
            for sock in (stranger, monitor, member, member_monitor):
                sock.close()
        finally:
            ctx.destroy(linger=0)
        after = _term_and_commit(client)
        assert {n: t for n, (t, _) in after.items()} == {n: t for n, (t, _) in before.items()}
        assert all(t < FORGED_TERM for t, _ in after.values())
        assert int(client.leader()["leader_id"]) == leader
        assert client.get("/secure/peer")[0] == b"x"


def _https(url: str, ca: Path, token: str | None, body: object = None) -> tuple[int, dict]:
    """GET ``url``, or POST ``body`` as JSON to it."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers)
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with urllib.request.urlopen(request, context=context, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_https_with_the_ca_and_the_token(cluster: StartedCluster) -> None:
    creds = load_credentials(cluster.exports()["SKYLOCK_CREDENTIALS"])
    assert creds.ca_cert is not None and len(creds.http) == 3
    with credentials_client(cluster) as client:
        client.create("/secure/http", b"over https")
    base = creds.http[0]
    assert base.startswith("https://")
    status, body = _https(f"{base}/v1/nodes/secure/http", creds.ca_cert, creds.token)
    assert (status, body["data"]) == (200, "over https")
    status, body = _https(f"{base}/v1/nodes/secure/http", creds.ca_cert, None)
    assert (status, body["error"]["code"]) == (401, "Unauthenticated")
    with pytest.raises((urllib.error.URLError, ConnectionError, http_client_errors())):
        urllib.request.urlopen(base.replace("https://", "http://") + "/v1/cluster/leader", timeout=15)


def test_health_needs_no_token_but_metrics_do(cluster: StartedCluster) -> None:
    """A load balancer probes /health without credentials; /metrics is like any other route."""
    creds = load_credentials(cluster.exports()["SKYLOCK_CREDENTIALS"])
    assert creds.ca_cert is not None
    base = creds.http[0]
    assert wait_until(lambda: _https(f"{base}/health", creds.ca_cert, None) == (200, {"status": "ok"}),
                      what="node 1 healthy")
    status, body = _https(f"{base}/metrics", creds.ca_cert, None)
    assert (status, body["error"]["code"]) == (401, "Unauthenticated")
    request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {creds.token}"})
    context = ssl.create_default_context(cafile=str(creds.ca_cert))
    with urllib.request.urlopen(request, context=context, timeout=15) as response:
        assert response.status == 200 and b"skylock_raft_term" in response.read()


def http_client_errors() -> type[Exception]:
    import http.client

    return http.client.HTTPException


def test_the_printed_exports_work_for_the_cli(cluster: StartedCluster, tmp_path: Path) -> None:
    env = {**os.environ, **cluster.exports()}
    env.pop("SKYLOCK_SERVERS", None)

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "skylock.cli", *args], env={**env, **extra},
                              capture_output=True, text=True, timeout=60)

    created = cli("create", "/secure/cli", "from the cli")
    assert created.returncode == 0, created.stderr
    got = cli("get", "/secure/cli")
    assert got.returncode == 0 and "from the cli" in got.stdout, got.stderr
    status = cli("status")
    assert status.returncode == 0 and "leader" in status.stdout, status.stderr
    wrong = cli("get", "/secure/cli", "--token", "wrong")
    assert wrong.returncode == 1 and "Unauthenticated" in wrong.stderr
    saved = cli("snapshot", "save", str(tmp_path / "backup.skb"))  # the root token is admin
    assert saved.returncode == 0 and "saved" in saved.stdout, saved.stderr
    assert cli("snapshot", "inspect", str(tmp_path / "backup.skb")).returncode == 0
    refused = cli("snapshot", "save", str(tmp_path / "other.skb"), "--token", "wrong")
    assert refused.returncode == 1 and "Unauthenticated" in refused.stderr
    assert not (tmp_path / "other.skb").exists()


def test_async_client_rest_multi_and_session_list_check_access(cluster: StartedCluster,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """AsyncClient speaks CURVE with the printed credentials; POST /v1/multi and session.list are
    checked against the caller's grants: every op's path, and read on / for the list."""
    exports = cluster.exports()

    async def with_async_client() -> None:
        async with AsyncClient(credentials=exports["SKYLOCK_CREDENTIALS"], token=exports["SKYLOCK_TOKEN"]) as c:
            await c.create("/secure/aio", b"over curve")
        for name, value in exports.items():
            monkeypatch.setenv(name, value)
        async with AsyncClient.from_env() as c:
            assert (await c.get("/secure/aio"))[0] == b"over curve"
        async with AsyncClient(credentials=exports["SKYLOCK_CREDENTIALS"], token="not-the-token") as c:
            with pytest.raises(Unauthenticated):
                await c.get("/secure/aio")

    asyncio.run(asyncio.wait_for(with_async_client(), 120))
    writer_token = "aio-writer-token-0123456789"
    with credentials_client(cluster) as root:
        root.call("auth.user_add", name="aio-writer", token=writer_token)
        root.call("auth.role_add", name="aio-writer-role")
        root.call("auth.role_grant", name="aio-writer-role", permission="write", prefix="/secure/aio")
        root.call("auth.user_grant_role", name="aio-writer", role="aio-writer-role")
    creds = load_credentials(exports["SKYLOCK_CREDENTIALS"])
    assert creds.ca_cert is not None
    multi = f"{creds.http[0]}/v1/multi"
    outside = {"ops": [{"op": "create", "path": "/secure/aio/x"}, {"op": "create", "path": "/secure/other"}]}
    status, body = _https(multi, creds.ca_cert, writer_token, outside)
    assert (status, body["error"]["code"]) == (403, "PermissionDenied") and "/secure/other" in body["error"]["message"]
    status, body = _https(multi, creds.ca_cert, writer_token, {"ops": outside["ops"][:1]})
    assert (status, body["results"][0]["path"]) == (200, "/secure/aio/x")
    status, body = _https(multi, creds.ca_cert, None, {"ops": []})
    assert (status, body["error"]["code"]) == (401, "Unauthenticated")
    env = {**os.environ, **exports}
    env.pop("SKYLOCK_SERVERS", None)
    listing = [sys.executable, "-m", "skylock.cli", "--json", "session", "list"]
    denied = subprocess.run([*listing, "--token", writer_token], env=env, capture_output=True, text=True, timeout=60)
    assert denied.returncode == 1 and denied.stderr.startswith("Error: PermissionDenied: "), denied.stderr
    allowed = subprocess.run(listing, env=env, capture_output=True, text=True, timeout=60)
    assert allowed.returncode == 0 and "sessions" in json.loads(allowed.stdout), allowed.stderr


def test_a_second_start_reuses_keys_certificates_and_token(cluster: StartedCluster) -> None:
    """Last in this module: it restarts the shared cluster."""
    data = cluster.data_dir
    secrets_before = {p: p.read_bytes() for p in sorted((data / "secure").rglob("*")) if p.is_file()}
    first = cluster.exports()
    with credentials_client(cluster) as client:
        client.create("/secure/kept", b"across restarts")
    cluster.stop()
    second = cluster.start()
    assert second == first
    assert {p: p.read_bytes() for p in sorted((data / "secure").rglob("*")) if p.is_file()} == secrets_before
    for path in [data / "credentials.yaml", *secrets_before]:
        assert path.stat().st_mode & 0o777 == 0o600, path
    for path in [data, data / "secure", data / "secure/curve", data / "secure/tls"]:
        assert path.stat().st_mode & 0o777 == 0o700, path
    with credentials_client(cluster) as client:
        assert wait_until(lambda: client.get("/secure/kept")[0] == b"across restarts", timeout=30)
