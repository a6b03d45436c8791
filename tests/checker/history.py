"""Histories: what concurrent clients asked, when, and what they were told.

An op is recorded at invocation and completed with its outcome: ``ok`` (known
result), ``fail`` (known not to have taken effect) or ``unknown`` (timed out or
connection lost: it may or may not have taken effect; it completes at +inf).
Times are ``time.monotonic()`` seconds of the recording process. A history is
plain JSON so a failing run can be re-checked offline (``tests.checker.recheck``).
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

OK, FAIL, UNKNOWN = "ok", "fail", "unknown"


@dataclass
class Op:
    process: str
    f: str
    key: str
    input: Any = None
    output: Any = None
    call: float = 0.0
    ret: float = math.inf
    status: str = UNKNOWN

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ret"] = None if math.isinf(self.ret) else self.ret
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Op":
        d = dict(d)
        d["ret"] = math.inf if d.get("ret") is None else float(d["ret"])
        return cls(**d)


@dataclass
class History:
    """Thread-safe recorder: ``invoke`` then exactly one of ``ok``/``fail``/``unknown``."""

    ops: list[Op] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # free-form: faults, watch events, ...
    meta: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def invoke(self, process: str, f: str, key: str, value: Any = None) -> Op:
        op = Op(process, f, key, value, call=time.monotonic())
        with self._lock:
            self.ops.append(op)
        return op

    def complete(self, op: Op, status: str, output: Any = None) -> Op:
        op.output = output
        op.status = status
        op.ret = math.inf if status == UNKNOWN else time.monotonic()
        return op

    def note(self, kind: str, **data: Any) -> dict[str, Any]:
        entry = {"kind": kind, "t": time.monotonic(), **data}
        with self._lock:
            self.events.append(entry)
        return entry

    def notes(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["kind"] == kind]

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {"meta": self.meta, "ops": [o.to_json() for o in self.ops], "events": list(self.events)}

    def dump(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_json(), indent=1, default=_default))
        return path

    @classmethod
    def load(cls, path: Path) -> "History":
        d = json.loads(Path(path).read_text())
        return cls([Op.from_json(o) for o in d["ops"]], list(d.get("events", [])), dict(d.get("meta", {})))


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(type(value).__name__)
