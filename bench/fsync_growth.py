"""What an fdatasync costs when the write before it grew the file, against one that only
overwrote zeros written ahead (what WAL segments do, skylock/storage/segment.py).

    python bench/fsync_growth.py [--procs 3] [--writes 4000] [--record 200] [--rounds 2] [--dir DIR]

Each of ``procs`` processes (a node's WAL each, as on a one-machine cluster) appends
``record``-byte records with an fdatasync after each, at the same time as the others;
the two ways alternate, ``rounds`` times each, and every process prints its median and
99th percentile. A write that grows the file makes its fdatasync also commit the new
size and blocks through the file system's journal.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time

#: zeros written ahead at a time in the ``overwrite`` way (the segment writer's figure)
AHEAD = 1 << 20


def appender(path: str, way: str, writes: int, record: int, out: mp.Queue) -> None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    data, allocated, took = b"x" * record, 0, []
    for i in range(writes):
        started = time.perf_counter()
        at = i * record
        if way == "grow":
            os.write(fd, data)
        else:
            if at + record > allocated:
                os.pwrite(fd, bytes(AHEAD), at + record)
                allocated = at + record + AHEAD
            os.pwrite(fd, data, at)
        os.fdatasync(fd)
        took.append(time.perf_counter() - started)
    os.close(fd)
    os.unlink(path)
    took.sort()
    out.put((took[len(took) // 2] * 1e6, took[int(len(took) * 0.99)] * 1e6))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", type=int, default=3)
    ap.add_argument("--writes", type=int, default=4000)
    ap.add_argument("--record", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dir", default=None, help="where the files go (default: a temp dir under /tmp)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=a.dir) as directory:
        for _ in range(a.rounds):
            for way in ("grow", "overwrite"):
                out: mp.Queue = mp.Queue()
                procs = [mp.Process(target=appender, args=(os.path.join(directory, f"{way}{k}.log"), way,
                                                            a.writes, a.record, out)) for k in range(a.procs)]
                for p in procs:
                    p.start()
                results = sorted(out.get() for _ in procs)
                for p in procs:
                    p.join()
                p50s = ", ".join(f"{p50:.0f}" for p50, _ in results)
                p99s = ", ".join(f"{p99:.0f}" for _, p99 in results)
                print(f"{way:9s} fdatasync p50 {p50s} us   p99 {p99s} us   ({a.procs} processes at once)")


if __name__ == "__main__":
    main()
