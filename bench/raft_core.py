"""Throughput of the pure Raft core: a 3-node in-memory cluster, no I/O.

Messages are delivered directly; each node runs the README's Ready loop against a
MemoryStorage and compacts it after applying, as a real application does. Reports committed (applied on the leader) entries per second.

    python bench/raft_core.py [--batches 200] [--batch 1000] [--size 100]
"""

from __future__ import annotations

import argparse
import random
import time

from skylock.raft import Config, ConfState, MemoryStorage, RawNode


def build(n: int = 3) -> tuple[dict[int, RawNode], dict[int, MemoryStorage]]:
    ids = tuple(range(1, n + 1))
    nodes, storages = {}, {}
    for i in ids:
        st = MemoryStorage()
        st.bootstrap(ConfState(voters=ids))
        storages[i] = st
        nodes[i] = RawNode(Config(id=i, rng=random.Random(i)), st)
    return nodes, storages


def pump(nodes: dict[int, RawNode], storages: dict[int, MemoryStorage]) -> int:
    """Run every node's Ready loop and deliver messages until quiet; entries applied on node 1."""
    applied = 0
    busy = True
    while busy:
        busy = False
        outbox = []
        for i, node in nodes.items():
            while node.has_ready():
                busy = True
                rd = node.ready()
                st = storages[i]
                st.apply_snapshot(rd.snapshot)
                st.append(rd.entries)
                st.set_hard_state(rd.hard_state)
                outbox.extend(rd.messages)
                if i == 1:
                    applied += len(rd.committed_entries)
                node.advance(rd)
        for m in outbox:
            nodes[m.to].step(m)
    return applied


def compact(nodes: dict[int, RawNode], storages: dict[int, MemoryStorage], keep: int) -> None:
    """What a real application does after applying: snapshot and drop the old log prefix."""
    for i, st in storages.items():
        applied = nodes[i].status().applied
        if applied - keep > st.first_index():
            st.create_snapshot(applied - keep, st.snapshot().meta.conf, b"")
            st.compact(applied - keep)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--size", type=int, default=100)
    args = ap.parse_args()
    nodes, storages = build()
    nodes[1].campaign()
    pump(nodes, storages)
    assert nodes[1].status().leader == 1
    payload = [bytes(args.size)] * args.batch
    committed = 0
    t0 = time.perf_counter()
    for _ in range(args.batches):
        nodes[1].propose_many(payload)
        committed += pump(nodes, storages)
        compact(nodes, storages, keep=args.batch)
    dt = time.perf_counter() - t0
    print(f"raft core: {committed} entries committed in {dt:.3f}s = {committed / dt:,.0f} entries/s "
          f"(3 nodes, batches of {args.batch} x {args.size} B)")


if __name__ == "__main__":
    main()
