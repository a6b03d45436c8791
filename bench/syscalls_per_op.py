"""Where the leader's time goes below Python: system calls per write, per thread, and CPU by layer.

    python bench/syscalls_per_op.py            # strace: each thread's system calls per write
    python bench/syscalls_per_op.py --perf     # and perf: the leader's CPU by shared object

A fresh 3-node cluster on free loopback ports takes sequential ``set``s through its leader while
``strace -f`` watches the leader process for a few seconds (so the figures are per write of a
slowed-down node: compare runs, not absolute speeds). Threads are named from ``py-spy dump``
when py-spy is installed, else by thread id. With ``--perf``, ``perf record`` samples the leader
again without strace and reports its CPU by shared object (kernel, libpython, libzmq, ...).
Linux only; needs ``strace`` (and ``perf`` for ``--perf``) on the PATH, as root or with ptrace
allowed.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_cluster import bench_cluster  # noqa: E402

from skylock.client import Client  # noqa: E402

VALUE = b"x" * 100
CALL = re.compile(r"(\d+)\s+(\w+)\(")


def thread_names(pid: int) -> dict[str, str]:
    """tid -> the Python thread's name (RaftNode-0, Store-1, ...) from py-spy (on the PATH or
    beside this Python), else /proc's name and the id."""
    names = {task.name: f"{(task / 'comm').read_text().strip()} {task.name}"
             for task in Path(f"/proc/{pid}/task").iterdir()}
    py_spy = shutil.which("py-spy", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if py_spy:
        dump = subprocess.run([py_spy, "dump", "-p", str(pid)], capture_output=True, text=True).stdout
        names.update(re.findall(r'^Thread (\d+) .*"(.*)"', dump, re.MULTILINE))
    return names


class Writer:
    """Sequential sets on a thread of its own, counted, until stopped."""

    def __init__(self, server: str) -> None:
        self.client = Client([server])
        self.client.create("/syscalls", b"")
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.client.set("/syscalls", VALUE)
            self.count += 1

    def __enter__(self) -> "Writer":
        for _ in range(300):
            self.client.set("/syscalls", VALUE)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.client.close()


def syscalls(pid: int, writer: Writer, seconds: float, out: Path) -> None:
    names = thread_names(pid)
    before = writer.count
    subprocess.run(["timeout", "-s", "INT", str(seconds), "strace", "-f", "-p", str(pid), "-o", str(out)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    writes = writer.count - before
    per_thread: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in out.read_text().splitlines():
        if m := CALL.match(line):
            per_thread[names.get(m.group(1), m.group(1))][m.group(2)] += 1
    print(f"system calls per write on the leader ({writes} writes under strace in {seconds:g} s):")
    for name, calls in sorted(per_thread.items(), key=lambda kv: -sum(kv[1].values())):
        top = ", ".join(f"{call} {n / writes:.1f}" for call, n in calls.most_common(6))
        print(f"  {name[:28]:28s} {sum(calls.values()) / writes:6.1f}  ({top})")


def cpu_by_layer(pid: int, seconds: float, out: Path) -> None:
    subprocess.run(["perf", "record", "-e", "cpu-clock", "-F", "4000", "-p", str(pid), "-o", str(out),
                    "--", "sleep", str(seconds)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for sort in ("dso", "sym"):
        report = subprocess.run(["perf", "report", "-i", str(out), "--sort", sort, "--stdio"],
                                capture_output=True, text=True).stdout
        rows = [line.strip() for line in report.splitlines() if line.strip() and not line.startswith("#")]
        print(f"the leader's CPU by {'shared object' if sort == 'dso' else 'symbol'}:")
        for row in rows[:8 if sort == "dso" else 12]:
            print(f"  {row}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="how long each tool watches (default 2)")
    parser.add_argument("--perf", action="store_true", help="also sample the leader's CPU by layer with perf")
    args = parser.parse_args()
    tools = ["strace"] + (["perf"] if args.perf else [])
    missing = [tool for tool in tools if not shutil.which(tool)]
    if missing:
        raise SystemExit(f"needs {' and '.join(missing)} on the PATH (apt-get install {' '.join(missing)})")
    serve = [sys.executable, "-m", "skylock.cli", "serve", "--log-level", "warning", "--config"]
    with bench_cluster(lambda node, config, root: [*serve, str(config)]) as cluster, \
            tempfile.TemporaryDirectory(prefix="skylock-syscalls-") as tmp, \
            Writer(cluster.servers[cluster.leader - 1]) as writer:
        leader_pid = cluster.pids[cluster.leader]
        syscalls(leader_pid, writer, args.seconds, Path(tmp) / "strace.out")
        if args.perf:
            cpu_by_layer(leader_pid, args.seconds * 2, Path(tmp) / "perf.data")


if __name__ == "__main__":
    main()
