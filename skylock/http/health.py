"""``GET /health``: is this node fit to serve, for a load balancer's probe.

Fit means it knows a leader and has applied its log up to (nearly) its commit index,
so its reads are not far behind. The answer is 200 ``{"status": "ok"}`` or 503
``{"status": "unavailable", "reason": ...}``, and says nothing beyond that: it needs
no token even in secure mode, since the prober has none.
"""

from __future__ import annotations

from typing import Any


#: How many committed entries a node may still have to apply and be called healthy.
MAX_APPLY_LAG = 1000


def verdict(status: dict[str, Any], *, max_lag: int = MAX_APPLY_LAG) -> str | None:
    """Why a node with this Raft status is unfit, or None when it is fit."""
    if not status.get("leader"):
        return "no leader"
    behind = int(status["commit"]) - int(status["applied"])
    if behind > max_lag:
        return f"applied index {status['applied']} is {behind} behind commit"
    return None


__all__ = ["verdict", "MAX_APPLY_LAG"]
