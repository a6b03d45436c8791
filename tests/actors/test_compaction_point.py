"""After a snapshot, the entries kept behind it for slow followers are bounded by
``storage.keep_entries`` and by ``storage.keep_bytes`` of entry data, whichever is
reached first; the log is compacted up to and including the returned index."""

from __future__ import annotations

from skylock.actors.raft_node import compaction_point
from skylock.raft import ConfState, MemoryStorage
from skylock.raft.types import Entry


def log_of(sizes: list[int], compacted_to: int = 0) -> MemoryStorage:
    """Entries 1..len(sizes), entry i carrying sizes[i-1] bytes; compacted up to ``compacted_to``."""
    storage = MemoryStorage()
    storage.bootstrap(ConfState((1,)))
    storage.append([Entry(1, i + 1, data=b"x" * n) for i, n in enumerate(sizes)])
    if compacted_to:
        storage.compact(compacted_to)
    return storage


def test_small_entries_are_bounded_by_count() -> None:
    assert compaction_point(log_of([10] * 100), 90, keep_entries=20, keep_bytes=1 << 20) == 70


def test_large_entries_are_bounded_by_bytes() -> None:
    # entries 81..90 hold 100 bytes each: 350 bytes keep 3 of them (88, 89, 90)
    assert compaction_point(log_of([100] * 100), 90, keep_entries=20, keep_bytes=350) == 87


def test_exactly_keep_bytes_are_kept() -> None:
    assert compaction_point(log_of([100] * 100), 90, keep_entries=20, keep_bytes=300) == 87


def test_an_entry_larger_than_keep_bytes_is_not_kept() -> None:
    assert compaction_point(log_of([10] * 89 + [1000]), 90, keep_entries=20, keep_bytes=500) == 90


def test_nothing_kept_when_keep_entries_is_zero() -> None:
    assert compaction_point(log_of([10] * 100), 90, keep_entries=0, keep_bytes=1 << 20) == 90


def test_an_already_short_log_is_left_alone() -> None:
    storage = log_of([10] * 100, compacted_to=85)
    point = compaction_point(storage, 90, keep_entries=20, keep_bytes=1 << 20)
    assert point < storage.first_index()  # RaftNode compacts only past the first index
