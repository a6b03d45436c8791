"""The one error durable storage raises when the bytes on disk cannot be trusted."""

from __future__ import annotations

from pathlib import Path


class CorruptLogError(Exception):
    """The WAL or its snapshots are damaged in a way recovery must not paper over.

    Raised instead of starting with a log that may have silently lost acknowledged
    entries; ``path`` and ``offset`` (when known) say where to look.
    """

    def __init__(self, message: str, path: Path | str | None = None, offset: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}" + (f" at offset {offset}" if offset is not None else "") + ": "
        super().__init__(where + message)
        self.path = Path(path) if path is not None else None
        self.offset = offset
