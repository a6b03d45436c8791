"""A real crash test: a writer process is SIGKILLed at random moments and restarted on
the same directory; every entry it acknowledged (after save() returned) must be
recovered, in order, with exact contents, and nothing else may appear.

Seeded; ``SKYLOCK_CRASH_ROUNDS`` (default 30) and ``SKYLOCK_CRASH_SEED`` widen the search.
"""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from skylock.storage import WAL
from tests.storage.crash_writer import data_of, term_of

ROUNDS = int(os.environ.get("SKYLOCK_CRASH_ROUNDS", "30"))
SEED = int(os.environ.get("SKYLOCK_CRASH_SEED", "20261126"))
WRITER = Path(__file__).with_name("crash_writer.py")
REPO = Path(__file__).resolve().parents[2]
ACK_DEADLINE = 20.0  # seconds; a writer this slow is a failure, not a reason to wait longer


class Writer:
    """One writer process and the acknowledgements read from its stdout."""

    def __init__(self, wal_dir: Path, seed: int, stderr) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen([sys.executable, str(WRITER), str(wal_dir), str(seed), "65536"],
                                     stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=REPO)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.buf = b""
        self.acks: list[int] = []
        self.recovered_to: int | None = None

    def _take_lines(self) -> None:
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            kind, value = line.split()
            if kind == b"A":
                self.acks.append(int(value))
            else:
                self.recovered_to = int(value)

    def read_until(self, deadline: float, want_acks: int | None = None) -> bool:
        """Read lines until ``want_acks`` acks or ``deadline``; False on EOF."""
        while want_acks is None or len(self.acks) < want_acks:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            if self.sel.select(left):
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    return False
                self.buf += chunk
                self._take_lines()
        return True

    def kill(self) -> None:
        """SIGKILL, then drain the pipe: acks already written were durable too."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        while chunk := os.read(self.proc.stdout.fileno(), 65536):
            self.buf += chunk
        self._take_lines()
        self.sel.close()
        self.proc.stdout.close()


def check_recovery(wal_dir: Path, acked: int) -> int:
    """Open the WAL as a restarting node would; assert nothing acknowledged is lost and
    nothing is invented. Returns the last index the log now holds."""
    wal, rec = WAL.open(wal_dir, segment_size=65536)
    wal.close()
    base = rec.snapshot_meta.index if rec.snapshot_meta else 0
    if rec.snapshot_meta:
        assert rec.snapshot_meta.term == term_of(base)
    for offset, e in enumerate(rec.entries):
        assert e.index == base + 1 + offset, f"log not contiguous at {e.index}"
        assert (e.term, e.data) == (term_of(e.index), data_of(e.index)), f"entry {e.index} invented"
    last = rec.entries[-1].index if rec.entries else base
    assert last >= acked, f"acknowledged up to {acked} but recovered only up to {last}"
    assert acked <= rec.hard_state.commit <= last
    return last


def test_sigkill_never_loses_an_acknowledged_entry(tmp_path):
    rng = random.Random(SEED)
    wal_dir = tmp_path / "wal"
    acked = 0
    total_acks = 0
    with open(tmp_path / "writer.stderr", "wb") as stderr:
        for round_no in range(ROUNDS):
            w = Writer(wal_dir, rng.randrange(1 << 32), stderr)
            start = time.monotonic()
            if rng.random() < 0.5:
                alive = w.read_until(start + ACK_DEADLINE, want_acks=rng.randint(0, 30))
            else:
                alive = w.read_until(start + rng.uniform(0.0, 0.25))
            assert alive, f"round {round_no}: writer exited early: {(tmp_path / 'writer.stderr').read_text()}"
            w.kill()
            assert w.proc.returncode == -signal.SIGKILL, (tmp_path / "writer.stderr").read_text()
            if w.recovered_to is not None:
                assert w.recovered_to >= acked, f"round {round_no}: writer recovered only to {w.recovered_to}"
            if w.acks:
                assert w.acks == sorted(w.acks)
                acked = max(acked, w.acks[-1])
                total_acks += len(w.acks)
            check_recovery(wal_dir, acked)
    assert total_acks > ROUNDS  # the writer really made progress between kills
