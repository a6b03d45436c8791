"""What every actor of a node shares: dispatch by message type, and a failure in
one message never kills the actor (pykka stops an actor whose ``on_receive``
raises, which would silently wedge the whole node)."""

from __future__ import annotations

import logging
from typing import Any, Callable

import pykka


class NodeActor(pykka.ThreadingActor):
    """Subclasses fill ``handlers`` (message type -> method) in ``__init__``."""

    use_daemon_thread = True

    def __init__(self, node_id: int) -> None:
        super().__init__()
        self.node_id = node_id
        self.log = logging.getLogger(f"skylock.{type(self).__name__}")
        self.handlers: dict[type, Callable[[Any], None]] = {}

    def on_receive(self, message: Any) -> None:
        handler = self.handlers.get(type(message))
        if handler is None:
            self.log.warning("node=%s unexpected message %r", self.node_id, type(message).__name__)
            return
        try:
            handler(message)
        except Exception:  # noqa: BLE001 - one bad message must not stop the node
            self.log.exception("node=%s failed handling %s", self.node_id, type(message).__name__)
