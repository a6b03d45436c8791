"""The newest state a client has seen, which its local reads never go back past.

Every answer says which state it reflects: a write the zxid of its entry, a read the
node's applied zxid. A client keeps the highest and sends it as ``min_zxid`` with each
local read, so a read after failing over to a node that is behind (a follower that was
cut off, a restarted node still catching up) is served from a state at least that new:
the node serves it as a linearizable read. ZooKeeper's clients get the same from their
session's last zxid. One per client, shared by its connections (any thread).
"""

from __future__ import annotations

import threading
from typing import Any

from skylock.net import codec

#: the reads that take ``min_zxid`` (the op table says which)
FLOORED = frozenset(op for op, spec in codec.OPS.items() if "min_zxid" in spec.known)


class ZxidFloor:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._zxid = 0

    @property
    def zxid(self) -> int:
        return self._zxid

    def saw(self, reply: codec.Reply | codec.PushedEvent | None) -> None:
        """Note the state an answer reflects (any thread)."""
        if isinstance(reply, codec.Reply) and reply.zxid > self._zxid:
            with self._lock:
                self._zxid = max(self._zxid, reply.zxid)

    def stamp(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """``args`` for sending: a local read carries the floor (unless it names its own), and so
        does a watch, which then never reports a change the client has already seen."""
        if (self._zxid and op in FLOORED and "min_zxid" not in args
                and (args.get("consistency") == "local" or op == "watch.add")):
            return {**args, "min_zxid": self._zxid}
        return args
