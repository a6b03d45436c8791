"""Concurrent client workloads that record what they asked and what they were told.

Each workload runs client threads until ``stop`` is set, writing ops and notes
into a shared ``History``. Outcomes follow the client's retry rule: ``NoLeader``
and a never-sent ``ConnectionLost`` mean the write did not happen (``fail``);
``Timeout``, a sent ``ConnectionLost`` or any other error mean it may have
(``unknown``). Reads have no effect, so a failed read is simply ``fail``.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any, Callable

from skylock.client import Client
from skylock.client.client import Event, SessionState
from skylock.errors import BadVersion, ConnectionLost, NoLeader, SkyLockError
from tests.checker.history import FAIL, OK, UNKNOWN, History

CLIENT_OPTS = {"request_timeout": 3.0, "attempt_timeout": 0.5}


def outcome_of(err: SkyLockError) -> str:
    if isinstance(err, NoLeader) or (isinstance(err, ConnectionLost) and err.details.get("sent") is False):
        return FAIL
    return UNKNOWN


class Workload:
    """Threads sharing a stop event; ``run`` starts them, ``join`` waits after ``stop.set()``."""

    def __init__(self, cluster: Any, history: History, rng: random.Random) -> None:
        self.cluster = cluster
        self.history = history
        self.rng = rng
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def client(self, **kwargs: Any) -> Client:
        servers = list(self.cluster.servers)
        self.rng.shuffle(servers)
        return self.cluster.client(*servers, **{**CLIENT_OPTS, **kwargs})

    def spawn(self, name: str, fn: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - surfaced by join()
                self.errors.append(exc)

        t = threading.Thread(target=guarded, name=name, daemon=True)
        self.threads.append(t)
        t.start()

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        assert not [t for t in self.threads if t.is_alive()], "workload threads did not finish"
        assert not self.errors, f"workload thread crashed: {self.errors[0]!r}"


class RegisterWorkload(Workload):
    """Reads, blind writes and version-CAS on a few keys from several clients."""

    def __init__(self, cluster: Any, history: History, rng: random.Random, clients: int = 5, keys: int = 3) -> None:
        super().__init__(cluster, history, rng)
        self.keys = [f"/reg/k{i}" for i in range(keys)]
        self.clients = clients

    def setup(self) -> None:
        c = self.client()
        c.create("/reg")
        for k in self.keys:
            c.create(k, b"")
        self.history.meta["inits"] = {k: ["", 0] for k in self.keys}
        for i in range(self.clients):
            self.spawn(f"reg-{i}", lambda i=i: self._loop(f"c{i}", random.Random(self.rng.random())))

    def _loop(self, name: str, rng: random.Random) -> None:
        client = self.client()
        versions: dict[str, int] = {}
        n = 0
        while not self.stop.is_set():
            key = rng.choice(self.keys)
            f = rng.choice(("read", "read", "write", "cas"))
            n += 1
            value = f"{name}-{n}"
            if f == "read":
                op = self.history.invoke(name, "read", key)
                try:
                    data, stat = client.get(key)
                except SkyLockError:
                    self.history.complete(op, FAIL)
                    continue
                versions[key] = int(stat["version"])
                self.history.complete(op, OK, [data.decode(), int(stat["version"])])
            elif f == "write":
                op = self.history.invoke(name, "write", key, value)
                try:
                    stat = client.set(key, value)
                except SkyLockError as err:
                    self.history.complete(op, outcome_of(err))
                    continue
                versions[key] = int(stat["version"])
                self.history.complete(op, OK, int(stat["version"]))
            else:
                expected = versions.get(key, 0) + rng.choice((0, 0, 0, 1))
                op = self.history.invoke(name, "cas", key, [expected, value])
                try:
                    stat = client.set(key, value, version=expected)
                except BadVersion:
                    self.history.complete(op, OK, [False, None])
                    continue
                except SkyLockError as err:
                    self.history.complete(op, outcome_of(err))
                    continue
                versions[key] = int(stat["version"])
                self.history.complete(op, OK, [True, int(stat["version"])])


class LockWorkload(Workload):
    """Clients contend for a few locks, hold each briefly and release it.

    A ``lock`` op records the client-side holding interval: ``acquired`` is when the
    acquire returned, ``released`` when the release was invoked (whatever its outcome).
    After a failed acquire or release the client closes its session (releasing whatever
    it holds) and starts a new one: see FINDINGS.md F2 for why reuse is unsafe.
    """

    def __init__(self, cluster: Any, history: History, rng: random.Random, clients: int = 4, locks: int = 2) -> None:
        super().__init__(cluster, history, rng)
        self.names = [f"lk{i}" for i in range(locks)]
        self.clients = clients

    def setup(self) -> None:
        for i in range(self.clients):
            self.spawn(f"lock-{i}", lambda i=i: self._loop(f"l{i}", random.Random(self.rng.random())))

    def _session(self, name: str) -> Client:
        client = self.client()
        client.add_listener(lambda s: s == SessionState.EXPIRED and self.history.note("session_expired", process=name))
        client.start_session(name, ttl=5.0)
        return client

    def _loop(self, base: str, rng: random.Random) -> None:
        gen = 0
        name = f"{base}.{gen}"
        client = self._session(name)
        while not self.stop.is_set():
            lock = rng.choice(self.names)
            op = self.history.invoke(name, "lock", lock)
            try:
                grant = client.lock_acquire(lock, owner=name, timeout=2.0)
            except SkyLockError:
                self.history.complete(op, FAIL)
                grant = None
            if grant is not None:
                acquired = time.monotonic()
                self.stop.wait(rng.uniform(0.01, 0.08))
                released = time.monotonic()
                self.history.complete(op, OK, {"acquired": acquired, "released": released,
                                               "token": int(grant["token"]), "lock_id": grant["lock_id"]})
                try:
                    client.lock_release(lock, grant["lock_id"])
                    continue
                except SkyLockError:
                    pass
            # An acquire that failed may have been granted, and a release that failed may still
            # apply later (even after a re-entrant acquire returned the same grant): never reuse
            # this session. Closing it releases whatever it holds.
            _close_quietly(client)
            gen += 1
            name = f"{base}.{gen}"
            client = _retry(lambda: self._session(name), self.stop)
            if client is None:
                return


class SessionWorkload(Workload):
    """Live heartbeating sessions with an ephemeral each, and a stream of abandoned
    sessions (opened, one ephemeral created, never heartbeated) whose ephemerals an
    observer watches disappear."""

    ABANDONED_TTL = 1.0

    def setup(self) -> None:
        c = self.client()
        c.create("/sess")
        self.live: list[tuple[str, Client, str]] = []
        for i in range(2):
            name = f"live{i}"
            client = self.client()
            client.add_listener(lambda s, n=name: s == SessionState.EXPIRED and
                                self.history.note("session_expired", process=n))
            client.start_session(name, ttl=3.0)
            path = client.create(f"/sess/{name}", ephemeral=True)
            self.history.note("live_session", process=name)
            self.live.append((name, client, path))
        self.pending: dict[str, tuple[str, float]] = {}  # abandoned process -> (path, last seen present: call time)
        self._lock = threading.Lock()
        self._abandoning_done = threading.Event()
        self.spawn("abandon", self._abandon_loop)
        self.spawn("observer", self._observe_loop)

    def _abandon_loop(self) -> None:
        try:
            self._abandon_sessions()
        finally:
            self._abandoning_done.set()

    def _abandon_sessions(self) -> None:
        client = self.client()
        n = 0
        while not self.stop.wait(self.rng.uniform(0.3, 0.8)):
            n += 1
            name = f"ab{n}"
            try:
                sid = client.call("session.open", client_id=name, ttl_ms=int(self.ABANDONED_TTL * 1000))["session_id"]
                path = client.call("create", path=f"/sess/{name}", data=b"", ephemeral=True, sequential=False,
                                   session_id=sid)["path"]
            except SkyLockError:
                continue  # never known to exist: nothing to check
            touched = time.monotonic()
            self.history.note("abandoned", process=name, ttl=self.ABANDONED_TTL, last_heartbeat=touched, path=path)
            with self._lock:
                self.pending[name] = (path, touched)

    def _observe_loop(self) -> None:
        client = self.client()
        # "nothing pending" means done only once no abandoned session can still be added: the
        # abandoning thread may be finishing one when stop is set (seed 2019576664)
        while not (self._abandoning_done.is_set() and
                   (not self.pending or time.monotonic() > self.drain_deadline)):
            time.sleep(0.05)  # polling interval
            with self._lock:
                items = list(self.pending.items())
            for name, (path, _) in items:
                invoked = time.monotonic()
                try:
                    present = client.exists(path) is not None
                except SkyLockError:
                    continue
                with self._lock:
                    if present:
                        self.pending[name] = (path, invoked)
                    else:
                        # removal happened after the last poll that still saw it began
                        self.history.note("ephemeral_gone", process=name, t=self.pending.pop(name)[1])

    drain_deadline = float("inf")

    def finish(self, drain: float = 15.0) -> None:
        """After healing: let the observer see every abandoned ephemeral go; check the live ones."""
        self.drain_deadline = time.monotonic() + drain
        self.join()
        for name, client, path in self.live:
            present = _retry(lambda p=path: self.client().exists(p) is not None, threading.Event())
            if client.state == SessionState.EXPIRED or present is not True:
                self.history.note("live_ephemeral_missing", process=name, path=path)


class WatchWorkload(Workload):
    """Writers set keys under /w; one watcher keeps a recursive watch on one client
    (failing over when its server dies); another re-creates its client now and then
    and resumes the watch from the last zxid it saw."""

    def setup(self) -> None:
        c = self.client()
        c.create("/w")
        self.keys = [f"/w/k{i}" for i in range(3)]
        for k in self.keys:
            c.create(k)
        self.last: dict[str, int] = {}
        self._watch("steady", self.client())
        self._watch("resumer", self.client())
        self.spawn("steady-ping", lambda: self._ping_loop("steady"))
        self.spawn("resumer", self._resume_loop)
        for i in range(3):
            self.spawn(f"writer-{i}", lambda i=i: self._write_loop(f"w{i}", random.Random(self.rng.random())))

    def _on_event(self, watcher: str, ev: Event) -> None:
        self.last[watcher] = max(self.last.get(watcher, 0), ev.zxid)
        self.history.note("watch_event", watcher=watcher, type=ev.type, path=ev.path, zxid=ev.zxid)

    def _watch(self, watcher: str, client: Client, from_zxid: int | None = None) -> None:
        client.watch("/w", lambda ev: self._on_event(watcher, ev), kind="recursive", from_zxid=from_zxid)
        self.history.note("watch_registered", watcher=watcher, from_zxid=from_zxid)
        setattr(self, f"client_{watcher}", client)

    def _ping_loop(self, watcher: str) -> None:
        """Requests are what make a client notice a dead server and move (with its watches)."""
        while not self.stop.wait(0.1):
            try:
                getattr(self, f"client_{watcher}").call("ping")
            except SkyLockError:
                pass

    def _resume_loop(self) -> None:
        while not self.stop.wait(self.rng.uniform(1.0, 2.0)):
            old = getattr(self, "client_resumer")
            _close_quietly(old)
            if _retry(self._resume, self.stop) is None:
                return

    def _resume(self) -> bool:
        """A fresh client resumes the watch right after the last event the old one saw."""
        self._watch("resumer", self.client(), self.last.get("resumer", 0))
        return True

    def _write_loop(self, name: str, rng: random.Random) -> None:
        client = self.client()
        n = 0
        while not self.stop.is_set():
            n += 1
            key = rng.choice(self.keys)
            op = self.history.invoke(name, "set", key, f"{name}-{n}")
            try:
                stat = client.set(key, f"{name}-{n}")
            except SkyLockError as err:
                self.history.complete(op, outcome_of(err))
                continue
            self.history.complete(op, OK, {"mzxid": int(stat["mzxid"])})
            self.stop.wait(0.01)

    def barrier(self, timeout: float = 20.0) -> None:
        """A last acknowledged write that every watcher must see before the check."""
        stat = _retry(lambda: self.client().set(self.keys[0], "barrier"), threading.Event(), timeout)
        assert stat is not None, "the barrier write never succeeded after healing"
        op = self.history.invoke("barrier", "set", self.keys[0], "barrier")
        self.history.complete(op, OK, {"mzxid": int(stat["mzxid"])})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and min(self.last.get(w, 0) for w in ("steady", "resumer")) < stat["mzxid"]:
            time.sleep(0.05)


class DurabilityWorkload(Workload):
    """Clients create unique nodes; every acknowledged create must survive anything."""

    WRITERS = 4

    def setup(self) -> None:
        c = self.client()
        c.create("/dur")
        for i in range(self.WRITERS):
            c.create(f"/dur/d{i}")
            self.spawn(f"dur-{i}", lambda i=i: self._loop(f"d{i}"))

    def present(self, client: Client) -> set[str]:
        """Every node under /dur now (one children call per writer keeps replies small)."""
        return {f"/dur/d{i}/{c}" for i in range(self.WRITERS) for c in client.children(f"/dur/d{i}")}

    def _loop(self, name: str) -> None:
        client = self.client()
        n = 0
        while not self.stop.wait(0.005):
            n += 1
            path = f"/dur/{name}/{n}"
            op = self.history.invoke(name, "create", path)
            try:
                client.create(path, b"x")
            except SkyLockError as err:
                self.history.complete(op, outcome_of(err))
                continue
            self.history.complete(op, OK)


def _close_quietly(client: Client) -> None:
    try:
        client.close()
    except Exception:  # noqa: BLE001
        pass


def _retry(fn: Callable[[], Any], stop: threading.Event, timeout: float = 20.0) -> Any:
    """``fn()`` until it succeeds (None on stop or after ``timeout``); for setup steps under faults."""
    deadline = time.monotonic() + timeout
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            return fn()
        except SkyLockError:
            stop.wait(0.1)
    return None
