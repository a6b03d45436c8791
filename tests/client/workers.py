"""Client worker processes for tests that need real processes (each its own client and session)."""

from __future__ import annotations

import subprocess
import sys


def run_workers(script: str, argvs: list[list[str]], timeout: float = 120) -> None:
    """Run ``python -c script`` once per argv, all at once; each must exit 0 within ``timeout``.
    Every process is killed and reaped whatever happens."""
    procs = [subprocess.Popen([sys.executable, "-c", script, *argv]) for argv in argvs]
    try:
        for p in procs:
            assert p.wait(timeout=timeout) == 0
    finally:
        for p in procs:
            p.kill()
            p.wait()
