"""How a node process logs: text lines for people, or JSON lines for log shippers.

``--log-format json`` writes one JSON object per line with ``time`` (UTC, ISO 8601),
``level``, ``logger``, ``message``, ``thread``, ``node_id``, and the node's current Raft
``term``, ``role`` and ``leader`` (0: none known), plus ``exception`` when there is one.
Term, role and leader come from the ``RaftViewBoard`` the RaftNode publishes to, read
without a lock on whatever thread logs, so the Raft core knows nothing of logging.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

from skylock.actors.raft_view import RaftViewBoard

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, stamped with this node's id and its Raft view of the moment."""

    def __init__(self, node_id: int | None, view: RaftViewBoard) -> None:
        super().__init__()
        self.node_id = node_id
        self.view = view

    def format(self, record: logging.LogRecord) -> str:
        raft = self.view.current
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "thread": record.threadName,
            "node_id": self.node_id,
            "term": raft.term,
            "role": raft.role,
            "leader": raft.leader,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: str, fmt: str = "text", *, node_id: int | None = None) -> RaftViewBoard:
    """Log to stderr at ``level`` in ``fmt``; returns the board to hand to ``Node`` so that
    JSON lines carry its term and role."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    view = RaftViewBoard()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(node_id, view) if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])
    return view
