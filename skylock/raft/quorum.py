"""Majority arithmetic: the committed index and the outcome of an election."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import IntEnum


class VoteResult(IntEnum):
    PENDING = 0
    LOST = 1
    WON = 2


def majority(n: int) -> int:
    return n // 2 + 1


def committed_index(voters: Sequence[int], match: Mapping[int, int]) -> int:
    """The largest index replicated on a majority of ``voters`` (§5.3)."""
    acked = sorted((match.get(v, 0) for v in voters), reverse=True)
    return acked[majority(len(acked)) - 1] if acked else 0


def vote_result(voters: Sequence[int], votes: Mapping[int, bool]) -> VoteResult:
    """WON once a majority granted, LOST once a majority is out of reach."""
    q = majority(len(voters))
    granted = rejected = 0
    for v in voters:
        got = votes.get(v)
        if got is True:
            granted += 1
        elif got is False:
            rejected += 1
    if granted >= q:
        return VoteResult.WON
    if len(voters) - rejected < q:
        return VoteResult.LOST
    return VoteResult.PENDING
