"""The lag column of ``cluster.status``: how far each member's applied index is behind
the leader's commit index.

The answers of one status round are gathered within half a second, not at one instant,
so a lag of a few entries under load is the gathering, not the member; a member that
keeps a large or growing lag is falling behind (a slow disk, a bad link, a snapshot in
flight). Without a leader, or with the leader not answering, there is nothing to measure
against and the lag is None.
"""

from __future__ import annotations

from typing import Any


def with_lag(nodes: list[dict[str, Any]], leader: int) -> list[dict[str, Any]]:
    """``nodes`` (each answer of a status round) with ``lag`` added to every one."""
    leading = next((n for n in nodes if n.get("id") == leader and n.get("reachable")), None)
    commit = int(leading["commit"]) if leading is not None else None
    out = []
    for n in nodes:
        lag = commit - int(n["applied"]) if commit is not None and n.get("reachable") else None
        out.append({**n, "lag": None if lag is None else max(lag, 0)})
    return out


__all__ = ["with_lag"]
