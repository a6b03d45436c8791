"""SkyLock benchmark suite: starts a local 3-node cluster itself and runs the workloads.

    python bench/run.py                 # every workload, appends a table to bench/RESULTS.md
    python bench/run.py -w W1 -w W2     # a subset
    python bench/run.py --no-record     # print only
    python bench/run.py --secure        # the same against a secure-mode cluster (CURVE, token)
    python bench/run.py -w W1 -w W2 -w W3 -w W4 --seconds 3 --open-vs-secure 2
                                        # open, secure, open, secure: one table side by side

W1 single-client write latency (p50/p99)    W2 writes/s, 16 concurrent clients; 1 client, 16 set_async in flight
W3 linearizable and local reads/s           W4 SDK lock cycles/s (1 client), contended handoffs/s (8 clients)
W5 client-observed unavailability after kill -9 of the leader
W6 time from a client's kill -9 to its ephemeral node's removal
plus RSS and CPU per node. Clients run in separate processes so the load
generator is not one GIL.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from skylock.client import Client, Lock  # noqa: E402
from skylock.errors import SkyLockError  # noqa: E402
from tests.integration.cluster import LocalCluster, wait_until  # noqa: E402

PAYLOAD = b"x" * 100


# ---- load generation in child processes ----------------------------------------------------


def _client_worker(servers: list[str], kind: str, threads: int, seconds: float, out: Any, worker: int,
                   credentials: str | None = None) -> None:
    """One process, ``threads`` closed-loop clients; puts (ops, latencies sample) on ``out``."""
    counts = [0] * threads
    lat: list[float] = []
    stop_at = time.monotonic() + seconds

    def loop(t: int) -> None:
        client = Client(servers[(worker * threads + t) % len(servers):] + servers[:(worker * threads + t) % len(servers)],
                        credentials=credentials)
        path = f"/bench/{kind}-{worker}-{t}"
        try:
            client.create(path, PAYLOAD)
        except SkyLockError:
            pass
        consistency = "local" if kind == "local" else "linearizable"
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            if kind == "write":
                client.set(path, PAYLOAD)
            else:
                client.get(path, consistency=consistency)
            if t == 0 and len(lat) < 20000:
                lat.append(time.perf_counter() - t0)
            counts[t] += 1
        client.close()

    ths = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    out.put((sum(counts), lat))


def run_clients(cluster: LocalCluster, kind: str, clients: int, seconds: float,
                procs: int = 4) -> tuple[float, list[float]]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    per = clients // procs
    creds = str(cluster.credentials) if cluster.credentials else None
    ps = [ctx.Process(target=_client_worker, args=(cluster.servers, kind, per, seconds, out, w, creds))
          for w in range(procs)]
    for p in ps:
        p.start()
    results = [out.get(timeout=seconds + 60) for _ in ps]
    for p in ps:
        p.join()
    total = sum(r[0] for r in results)
    lat = [x for r in results for x in r[1]]
    return total / seconds, lat


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


# ---- workloads ----------------------------------------------------------------------------------


def w1(cluster: LocalCluster, rows: list[tuple[str, str]], seconds: float) -> None:
    client = cluster.client()
    client.create("/bench/w1", PAYLOAD)
    lat = []
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        t0 = time.perf_counter()
        client.set("/bench/w1", PAYLOAD)
        lat.append(time.perf_counter() - t0)
    rows.append(("W1 single-client write p50 / p99", f"{pct(lat, 0.5):.2f} ms / {pct(lat, 0.99):.2f} ms"))


def w2(cluster: LocalCluster, rows: list[tuple[str, str]], seconds: float) -> None:
    rate, lat = run_clients(cluster, "write", 16, seconds)
    rows.append(("W2 writes/s, 16 clients (100 B set)", f"{rate:,.0f}/s (p50 {pct(lat, 0.5):.1f} ms)"))
    rate, lat = pipelined_sets(cluster, 16, seconds)
    rows.append(("W2 async writes/s, 1 client, 16 in flight", f"{rate:,.0f}/s (p50 {pct(lat, 0.5):.1f} ms)"))


def pipelined_sets(cluster: LocalCluster, window: int, seconds: float) -> tuple[float, list[float]]:
    """One client, ``window`` ``set_async`` in flight on its one socket, one node set over and over."""
    client = cluster.client()
    client.create("/bench/w2-async", PAYLOAD)
    slots = threading.Semaphore(window)
    lat: list[float] = []
    done = 0

    def landed(t0: float, future: Any) -> None:
        nonlocal done
        try:
            future.result()  # a failure raises here (the future logs it), uncounted
            done += 1  # only the pipeline thread runs callbacks
            if len(lat) < 20000:
                lat.append(time.perf_counter() - t0)
        finally:
            slots.release()

    start = time.monotonic()
    stop_at = start + seconds
    while time.monotonic() < stop_at:
        slots.acquire()
        t0 = time.perf_counter()
        client.set_async("/bench/w2-async", PAYLOAD).add_done_callback(lambda f, t0=t0: landed(t0, f))
    for _ in range(window):
        slots.acquire()  # the last ones land
    return done / (time.monotonic() - start), lat


def w3(cluster: LocalCluster, rows: list[tuple[str, str]], seconds: float) -> None:
    rate, _ = run_clients(cluster, "linear", 16, seconds)
    rows.append(("W3 linearizable reads/s, 16 clients", f"{rate:,.0f}/s"))
    rate, _ = run_clients(cluster, "local", 16, seconds)
    rows.append(("W3 local reads/s, 16 clients", f"{rate:,.0f}/s"))


def _follower(cluster: LocalCluster) -> str:
    leader = cluster.leader()
    return cluster.address(next(n for n in sorted(cluster.procs) if n != leader))


def w4(cluster: LocalCluster, rows: list[tuple[str, str]], seconds: float) -> None:
    """The peers' W4 (../shared/bench/peers/README.md): W4a one client cycling the SDK ``Lock``
    through a follower; W4b 8 contenders (one per client, spread over the nodes) handing one
    lock over, with mutual exclusion checked by the contenders themselves."""
    client = cluster.client(_follower(cluster))
    client.start_session("bench", ttl=10)
    lock = Lock(client, "bench-lock-u", owner="solo")
    lat = []
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        t0 = time.perf_counter()
        lock.acquire()
        lock.release()
        lat.append(time.perf_counter() - t0)
    rows.append(("W4a uncontended lock cycles/s (1 client, via a follower)",
                 f"{len(lat) / seconds:,.0f}/s (p50 {pct(lat, 0.5):.2f} ms)"))
    clients = [cluster.client(cluster.servers[i % 3]) for i in range(8)]
    for c in clients:
        c.start_session("bench", ttl=10)
    locks = [Lock(c, "bench-lock-c", owner=f"c{i}") for i, c in enumerate(clients)]
    guard = threading.Lock()
    state = {"holder": -1, "violations": 0, "handoffs": 0}
    stop_at = time.monotonic() + seconds

    def contend(i: int) -> None:
        while time.monotonic() < stop_at:
            locks[i].acquire()
            with guard:
                state["violations"] += state["holder"] != -1
                state["holder"] = i
                state["handoffs"] += 1
            with guard:
                state["holder"] = -1
            locks[i].release()

    ths = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    assert state["violations"] == 0, f"W4b: {state['violations']} mutual-exclusion violations"
    rows.append(("W4b contended handoffs/s (8 clients, 1 lock)", f"{state['handoffs'] / seconds:,.0f}/s"))


def w5(cluster: LocalCluster, rows: list[tuple[str, str]], seconds: float) -> None:
    client = cluster.client(request_timeout=30)
    client.create("/bench/w5", PAYLOAD)
    leader = cluster.leader()
    successes: list[float] = []
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            try:
                client.set("/bench/w5", PAYLOAD)
                successes.append(time.monotonic())
            except SkyLockError:
                pass

    th = threading.Thread(target=writer)
    th.start()
    wait_until(lambda: len(successes) > 50)
    killed = time.monotonic()
    cluster.kill(leader)
    wait_until(lambda: successes[-1] > killed + 0.5, timeout=30)
    stop.set()
    th.join()
    # the longest stretch without a successful write around the kill (a write that was
    # already committed may still be acknowledged just after it)
    around = [t for t in successes if t >= killed - 1.0]
    gap = max(b - a for a, b in zip(around, around[1:]))
    rows.append(("W5 unavailability after leader kill -9 (longest gap)", f"{gap * 1000:,.0f} ms"))
    cluster.start(leader)
    cluster.leader()


OWNER = """
import sys, threading
from skylock.client import Client
c = Client(sys.argv[1].split(","), credentials=sys.argv[3] or None)
c.start_session("w6", ttl=float(sys.argv[2]))
c.create("/bench/w6", b"x", ephemeral=True)
print("ready", flush=True)
threading.Event().wait()
"""


def w6(cluster: LocalCluster, rows: list[tuple[str, str]], seconds: float) -> None:
    ttl = 2.0
    proc = subprocess.Popen([sys.executable, "-c", OWNER, ",".join(cluster.servers), str(ttl),
                             str(cluster.credentials or "")],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    probe = cluster.client()
    proc.kill()
    proc.wait()
    killed = time.monotonic()
    wait_until(lambda: probe.exists("/bench/w6") is None, timeout=ttl + 10, interval=0.01)
    rows.append((f"W6 client kill -9 -> ephemeral removed (TTL {ttl:.0f} s)", f"{time.monotonic() - killed:.2f} s"))


def node_resources(cluster: LocalCluster, rows: list[tuple[str, str]], seconds: float) -> None:
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    before = {n: cpu(p.pid) for n, p in cluster.procs.items()}
    idle = 5.0
    time.sleep(idle)  # an idle interval is the measurement itself
    for n, p in sorted(cluster.procs.items()):
        rss = next(int(line.split()[1]) for line in Path(f"/proc/{p.pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS"))
        rows.append((f"node {n} idle CPU / RSS", f"{(cpu(p.pid) - before[n]) / idle * 100:.1f}% / {rss / 1024:.0f} MiB"))


WORKLOADS: dict[str, Callable[[LocalCluster, list[tuple[str, str]], float], None]] = {
    "W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6, "RES": node_resources,
}


def machine() -> str:
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    return (f"{os.cpu_count()} cores, {int(mem.split()[1]) // 1024 // 1024} GiB, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def run_once(names: list[str], seconds: float, secure: bool) -> list[tuple[str, str]]:
    """Start a fresh 3-node cluster (open or secure), run ``names`` against it, stop it."""
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="skylock-bench-") as tmp:
        cluster = LocalCluster(Path(tmp), sections={"raft": {"heartbeat_interval": "50ms",
                                                             "election_timeout_min": "500ms",
                                                             "election_timeout_max": "1000ms"}},
                               secure=secure)
        cluster.start()
        try:
            cluster.leader()
            cluster.client().create("/bench")
            with click.progressbar(names, label="secure" if secure else "open",
                                   item_show_func=lambda n: n or "") as bar:
                for name in bar:
                    WORKLOADS[name](cluster, rows, seconds)
        finally:
            cluster.close()
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    width = max(len(r[0]) for r in rows)
    lines = [f"| {header[0].ljust(width)} | " + " | ".join(header[1:]) + " |",
             f"|{'-' * (width + 2)}|" + "|".join("---:" for _ in header[1:]) + "|"]
    lines += [f"| {r[0].ljust(width)} | " + " | ".join(r[1:]) + " |" for r in rows]
    return "\n".join(lines)


def side_by_side(names: list[str], seconds: float, rounds: int) -> tuple[list[str], list[list[str]]]:
    """``rounds`` x (open, secure), each on its own fresh cluster: interleaved, so each pair
    shares the VM's phase (its speed drifts by up to 2x within an hour)."""
    header, columns = ["workload"], []
    for r in range(1, rounds + 1):
        for secure in (False, True):
            header.append(f"{'secure' if secure else 'open'} r{r}")
            columns.append(dict(run_once(names, seconds, secure)))
    labels = list(dict.fromkeys(label for col in columns for label in col))
    return header, [[label, *(col.get(label, "-") for col in columns)] for label in labels]


@click.command()
@click.option("-w", "--workload", "chosen", multiple=True, type=click.Choice(list(WORKLOADS)),
              help="Run only these (repeatable). Default: all.")
@click.option("--seconds", default=5.0, show_default=True, help="Measured time per workload.")
@click.option("--record/--no-record", default=True, help="Append the table to bench/RESULTS.md.")
@click.option("--secure", is_flag=True, help="Run the cluster in secure mode (CURVE, root token).")
@click.option("--open-vs-secure", "rounds", type=int, default=0,
              help="Run ROUNDS x (open, secure) interleaved and print one table side by side.")
def main(chosen: tuple[str, ...], seconds: float, record: bool, secure: bool, rounds: int) -> None:
    """Start a 3-node cluster on free loopback ports and run the workloads."""
    names = list(chosen) or list(WORKLOADS)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if rounds:
        header, rows = side_by_side(names, seconds, rounds)
    else:
        header, rows = ["workload", "result"], [list(r) for r in run_once(names, seconds, secure)]
    text = table(header, rows)
    click.echo(text)
    if record:
        mode = f" --open-vs-secure {rounds}" if rounds else (" --secure" if secure else "")
        title = "Open vs secure mode" if rounds else "Cluster workloads"
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as f:
            f.write(f"\n## {title}, {started}\n\nMachine: {machine()}. "
                    f"Command: `python bench/run.py {' '.join(f'-w {n}' for n in chosen)} "
                    f"--seconds {seconds:g}{mode}`. Cluster: 3 nodes from this command "
                    f"on loopback, fsync on{', secure mode' if secure and not rounds else ''}.\n\n"
                    f"{text}\n")


if __name__ == "__main__":
    main()
