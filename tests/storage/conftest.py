"""Helpers shared by the storage tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from skylock.raft.types import Entry


def ents(first: int, last: int, term: int = 1, tag: bytes = b"") -> list[Entry]:
    """Entries first..last whose data names index, term and tag, so mix-ups show."""
    return [Entry(term, i, data=b"%d/%d/%s" % (i, term, tag)) for i in range(first, last + 1)]


@pytest.fixture
def wal_dir(tmp_path: Path) -> Path:
    return tmp_path / "wal"
