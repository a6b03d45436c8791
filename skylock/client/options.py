"""Where a client connects and how it proves itself: one reading of the options that
``Client`` and ``AsyncClient`` both take (``servers``, ``token``, ``credentials``, or the
environment), so the two can never disagree on which server gets which key and token.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

from skylock.security import CREDENTIALS_ENV, TOKEN_ENV, Credentials, load_credentials


@dataclass(frozen=True)
class Endpoints:
    """The servers to try, in order; the token every frame carries; the credentials (secure mode)."""

    servers: list[str]
    token: str | None
    credentials: Credentials | None

    def server_key(self, address: str) -> bytes | None:
        """The CURVE public key of ``address`` in secure mode, else None (plaintext)."""
        return self.credentials.server_keys[address] if self.credentials is not None else None


def resolve(servers: str | Sequence[str] | None, token: str | None,
            credentials: str | os.PathLike[str] | Credentials | None) -> Endpoints:
    """``servers``: "host:port" addresses (a list, or comma-separated). ``credentials`` (a
    credentials file or ``Credentials``) gives the servers (unless ``servers`` does), each
    server's CURVE public key and a token; ``token`` wins over the file's. With no
    ``servers`` and no ``credentials``, the environment is read (``SKYLOCK_CREDENTIALS``,
    ``SKYLOCK_TOKEN``). ``ValueError`` when no server is known, or one has no key."""
    if servers is None and credentials is None:
        credentials = os.environ.get(CREDENTIALS_ENV) or None
        token = token or os.environ.get(TOKEN_ENV) or None
        if credentials is None:
            raise ValueError(f"no servers given and {CREDENTIALS_ENV} is not set")
    if credentials is not None and not isinstance(credentials, Credentials):
        credentials = load_credentials(credentials)
    token = token or (credentials.token if credentials else None)
    if servers is None and credentials is not None:
        servers = list(credentials.servers)
    if isinstance(servers, str):
        servers = [s.strip() for s in servers.split(",") if s.strip()]
    if not servers:
        raise ValueError("at least one server address (host:port) is needed")
    servers = list(servers)
    if credentials is not None and (unknown := [s for s in servers if s not in credentials.server_keys]):
        # never fall back to plaintext (and send the token in clear) for a server without a key
        raise ValueError(f"the credentials have no CURVE public key for server(s) {', '.join(unknown)}")
    return Endpoints(servers, token, credentials)


def env_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``from_env``'s arguments: the file ``SKYLOCK_CREDENTIALS`` names, with ``SKYLOCK_TOKEN``
    as the token if set (else the file's), and the caller's other options."""
    path = os.environ.get(CREDENTIALS_ENV)
    if not path:
        raise ValueError(f"{CREDENTIALS_ENV} is not set (start_cluster.py --secure prints it)")
    return {**kwargs, "credentials": path, "token": kwargs.get("token") or os.environ.get(TOKEN_ENV) or None}
