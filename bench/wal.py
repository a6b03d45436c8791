"""WAL append throughput with group commit.

Appends 100-byte entries through ``WAL.save`` in batches of 1, 10, 100 and 1000
entries (one write + one fsync per save) and reports entries/s and fsyncs/s.

    python bench/wal.py [--dir DIR] [--seconds 2] [--batches 1,10,100,1000] [--no-fsync] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skylock.raft.types import Entry, HardState  # noqa: E402
from skylock.storage import WAL  # noqa: E402

ENTRY_BYTES = 100


def run(directory: Path, batch: int, seconds: float, fsync: bool) -> tuple[int, int, float]:
    """Append for about ``seconds``; returns (entries, saves, elapsed)."""
    shutil.rmtree(directory, ignore_errors=True)
    wal, _ = WAL.open(directory, fsync=fsync)
    payload = bytes(ENTRY_BYTES)
    index, saves = 1, 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        entries = [Entry(1, i, data=payload) for i in range(index, index + batch)]
        index += batch
        wal.save(HardState(1, 1, index - 1), entries)
        saves += 1
        if saves % 8 == 0 and time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - start
    wal.close()
    return index - 1, saves, elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir under ./)")
    ap.add_argument("--seconds", type=float, default=2.0, help="run time per batch size")
    ap.add_argument("--batches", default="1,10,100,1000")
    ap.add_argument("--no-fsync", action="store_true")
    ap.add_argument("--profile", action="store_true", help="cProfile the largest batch size")
    args = ap.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="walbench-", dir="."))
    batches = [int(b) for b in args.batches.split(",")]
    rate = "saves/s (no fsync)" if args.no_fsync else "fsyncs/s"
    print(f"| batch | entries/s | {rate} | MB/s |\n|---:|---:|---:|---:|")
    try:
        for batch in batches:
            n, saves, dt = run(base / f"b{batch}", batch, args.seconds, not args.no_fsync)
            print(f"| {batch} | {n / dt:,.0f} | {saves / dt:,.0f} | {n * ENTRY_BYTES / dt / 1e6:.1f} |", flush=True)
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(run, base / "profile", batches[-1], args.seconds, not args.no_fsync)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(15)
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
