"""Snapshot exports: a backup is read in bounded chunks, released at its end or when abandoned,
and no more than ``max_exports`` are held at once (each is a copy of the whole state)."""

from __future__ import annotations

import hashlib

import pytest

from skylock.actors.exports import SnapshotExports
from skylock.errors import BadRequest, LimitExceeded, NoNode


def test_the_chunks_rebuild_the_snapshot_and_the_last_one_releases_it() -> None:
    exports = SnapshotExports(chunk_size=4)
    data = bytes(range(10))
    begun = exports.begin(data, index=7, term=2, now=0.0)
    assert begun["size"] == 10 and begun["index"] == 7 and begun["term"] == 2
    assert begun["sha256"] == hashlib.sha256(data).hexdigest()
    got = b""
    while len(got) < begun["size"]:
        chunk = exports.chunk(begun["export_id"], len(got), now=1.0)["data"]
        assert 0 < len(chunk) <= 4
        got += chunk
    assert got == data and len(exports) == 0
    with pytest.raises(NoNode):
        exports.chunk(begun["export_id"], 0, now=1.0)


def test_exports_are_limited_and_an_abandoned_one_expires() -> None:
    exports = SnapshotExports(max_exports=2, idle_timeout=30.0, chunk_size=2)
    first = exports.begin(b"a" * 10, index=1, term=1, now=0.0)
    exports.begin(b"b" * 10, index=1, term=1, now=0.0)
    with pytest.raises(LimitExceeded):
        exports.begin(b"c", index=1, term=1, now=10.0)
    exports.chunk(first["export_id"], 0, now=20.0)  # a read keeps it alive
    exports.begin(b"c", index=1, term=1, now=31.0)  # the idle second one made room
    assert len(exports) == 2
    exports.sweep(now=100.0)
    assert len(exports) == 0


def test_an_offset_past_the_end_is_a_bad_request() -> None:
    exports = SnapshotExports()
    begun = exports.begin(b"xyz", index=1, term=1, now=0.0)
    with pytest.raises(BadRequest):
        exports.chunk(begun["export_id"], 4, now=0.0)
