"""Child process of test_crash: recover a WAL, then append deterministic entries in
batches forever, writing ``A <last index>`` to stdout after each save() returns (the
batch is durable), until killed. Usage: crash_writer.py WAL_DIR SEED SEGMENT_SIZE
"""

from __future__ import annotations

import os
import random
import sys

from skylock.raft.types import Entry, HardState, SnapshotMeta
from skylock.storage import WAL


def term_of(index: int) -> int:
    return 1 + index // 500


def data_of(index: int) -> bytes:
    return b"%d:" % index * (1 + index % 13)


def entry(index: int) -> Entry:
    return Entry(term_of(index), index, data=data_of(index))


def main() -> None:
    wal_dir, seed, segment_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    wal, rec = WAL.open(wal_dir, segment_size=segment_size)
    snap = rec.snapshot_meta.index if rec.snapshot_meta else 0
    nxt = rec.entries[-1].index + 1 if rec.entries else snap + 1
    os.write(1, b"R %d\n" % (nxt - 1))
    while True:
        n = rng.choice((1, 2, 5, 20, 100, 400))
        # sometimes re-send the last few entries (same content): the overwrite path
        first = max(snap + 1, nxt - rng.randint(0, 5)) if rng.random() < 0.2 else nxt
        last = nxt + n - 1
        wal.save(HardState(term_of(last), 1, last), [entry(i) for i in range(first, last + 1)])
        nxt = last + 1
        if rng.random() < 0.05:
            snap = max(snap, last - rng.randint(0, 50))
            wal.save_snapshot_meta(SnapshotMeta(snap, term_of(snap)))
            wal.release_before(snap)
        os.write(1, b"A %d\n" % last)


if __name__ == "__main__":
    main()
