"""Command line for the simulator: replay one seed, or run a range of seeds.

    python -m tests.sim.replay 1234            # full trace of seed 1234 if it fails
    python -m tests.sim.replay --from 0 --to 100000
"""

from __future__ import annotations

import argparse
import sys
import time

from .cluster import SimFailure, replay, run_seed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.sim.replay")
    ap.add_argument("seed", type=int, nargs="?")
    ap.add_argument("--from", dest="lo", type=int, default=0)
    ap.add_argument("--to", dest="hi", type=int, default=0, help="exclusive")
    ap.add_argument("--nodes", type=int, default=None, help="force 3 or 5 nodes")
    args = ap.parse_args(argv)
    if args.seed is not None:
        cluster = replay(args.seed, args.nodes)
        print(f"seed {args.seed}: ok, {cluster.events} events, digest {cluster.result}")
        return 0
    failures = 0
    start = time.perf_counter()  # reporting only; the simulation never reads a clock
    for seed in range(args.lo, args.hi):
        try:
            run_seed(seed, args.nodes)
        except SimFailure as exc:
            failures += 1
            print(exc, flush=True)
    took = time.perf_counter() - start
    print(f"seeds {args.lo}..{args.hi - 1}: {args.hi - args.lo} runs, {failures} failures, "
          f"{took:.1f}s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
