"""The simulated network: every message between nodes goes through here.

It is where the faults of a real network live, all drawn from one seeded
``random.Random`` so that a run replays exactly: per-message delay in ticks
(random delays also reorder; a healed network is FIFO per link), loss, duplication, and directed link cuts (a
symmetric partition is a set of cuts in both directions; an asymmetric one cuts
only one way). Whether a message is dropped is decided at delivery time, so a
partition that starts while a message is in flight drops it, as a real one would.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from skylock.raft import Message


@dataclass(slots=True)
class InFlight:
    """A message on the wire, with the incarnation of the node that sent it
    (so a restarted sender is not told about its previous life's messages)."""

    msg: Message
    sender_incarnation: int


class Network:
    """Seeded message delivery with delay, loss, duplication and link cuts."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._queue: list[tuple[int, int, InFlight]] = []
        self._seq = 0
        #: directed links (frm, to) that drop everything
        self.cut: set[tuple[int, int]] = set()
        self.loss = 0.0
        self.dup = 0.0
        self.min_delay = 1
        self.max_delay = 3
        #: deliver in send order per link, as a TCP connection does; off while faults run
        self.fifo = False
        self._link_last: dict[tuple[int, int], int] = {}

    def send(self, now: int, msg: Message, sender_incarnation: int) -> None:
        rnd = self._rng.random
        copies = 2 if self.dup and rnd() < self.dup else 1
        span = self.max_delay - self.min_delay + 1
        for _ in range(copies):
            at = now + self.min_delay + int(rnd() * span)
            if self.fifo:
                link = (msg.frm, msg.to)
                at = max(at, self._link_last.get(link, 0))
                self._link_last[link] = at
            self._seq += 1
            heapq.heappush(self._queue, (at, self._seq, InFlight(msg, sender_incarnation)))

    def due(self, now: int) -> list[InFlight]:
        """Messages whose delivery time has come, in a seeded random order."""
        out: list[InFlight] = []
        q = self._queue
        while q and q[0][0] <= now:
            out.append(heapq.heappop(q)[2])
        if len(out) > 1 and not self.fifo:
            self._rng.shuffle(out)
        return out

    def lost(self, msg: Message) -> bool:
        """Decide, at delivery time, whether this message is dropped by loss."""
        return bool(self.loss) and self._rng.random() < self.loss

    def is_cut(self, frm: int, to: int) -> bool:
        return (frm, to) in self.cut

    def partition(self, groups: list[list[int]]) -> None:
        """Symmetric partition: no link between nodes of different groups."""
        self.cut = set()
        for i, g in enumerate(groups):
            for h in groups[i + 1:]:
                for a in g:
                    for b in h:
                        self.cut.add((a, b))
                        self.cut.add((b, a))

    def heal(self) -> None:
        """A healthy network again: no cuts, loss or duplication, and FIFO per link.

        Messages already in flight keep their (possibly late) delivery time.
        """
        self.cut = set()
        self.loss = 0.0
        self.dup = 0.0
        self.max_delay = 3
        self.fifo = True

    def in_flight(self) -> int:
        return len(self._queue)
