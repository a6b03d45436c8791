"""The servers a client was given are a seed: it learns the cluster's members from it.

After each new connection, the client's next successful call is followed by one
``member.list`` on that same connection, and the client addresses of members it did not
know are added to its server list (never removed: a seed stays a fallback). So a
client started with nodes 1-3 still finds nodes 4 and 5 after 1-3 are replaced. In
secure mode only servers whose CURVE key the credentials hold are added. A server that
does not know ``member.list`` (or refuses it) teaches nothing, and the call that
triggered the lookup is never affected.
"""

from __future__ import annotations

import logging
from typing import Any

from skylock.errors import SkyLockError

log = logging.getLogger("skylock.client")

#: seconds the lookup may take; it runs after a call that just succeeded on that server
LOOKUP_TIMEOUT = 1.0


def merge(servers: list[str], members: list[dict[str, Any]], usable: Any = None) -> list[str]:
    """``servers`` followed by the members' client addresses it lacks (``usable`` filters)."""
    known = set(servers)
    added = [m["client_address"] for m in members
             if isinstance(m, dict) and isinstance(m.get("client_address"), str)
             and m["client_address"] not in known and (usable is None or usable(m["client_address"]))]
    return servers + sorted(set(added))


def learn(failover: Any) -> None:
    """Called after a successful call: look the members up once per new connection (the client's
    ``Failover``). A client given a single server is pinned to it (a probe of one node, a
    node-local script), not seeded."""
    if not failover.learn_members or len(failover.servers) < 2:
        return
    failover.learn_members = False
    conn = failover.current
    if conn is None:
        return
    try:
        result = conn.call("member.list", {}, LOOKUP_TIMEOUT)
    except (SkyLockError, TimeoutError) as err:
        log.debug("member lookup on %s failed: %s", conn.address, err)
        return
    keys = failover.credentials.server_keys if failover.credentials is not None else None
    new = merge(failover.servers, result.get("members", []), (lambda a: a in keys) if keys is not None else None)
    if new != failover.servers:
        log.info("learned servers %s", ", ".join(new[len(failover.servers):]))
        failover.servers.extend(new[len(failover.servers):])  # the client's own list: one list
