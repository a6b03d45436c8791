"""CURVE on SkyLock's ZeroMQ sockets (secure mode): who may connect, with which keys.

A node's ZeroMQ context runs one ZAP authenticator (pyzmq's ``ThreadAuthenticator``)
that answers for two ZAP domains:

- ``peer``: the peer ROUTER. Only the members' public keys are let in, so a
  plaintext client or a CURVE client with any other key never completes the
  handshake and none of its frames reach Raft. The ZAP reply names the member whose
  key it was (User-Id ``"2"`` for node 2's key); ZeroMQ attaches that User-Id to every
  frame of the connection, so the peer transport can check that a connection claiming
  to be node 2 really holds node 2's key (a member's key alone is not enough to speak
  as another member).
- ``client``: the client ROUTER. Any CURVE key is let in (clients make a key pair
  per process); the bearer token in each frame says who the caller is.

Both domains use pyzmq's credentials callback, not its certificate store: the store's
"allow any" switch is global to the authenticator, so it would open the peer port too.

Keys are Z85 text, in the files ``zmq.auth.create_certificates`` writes
(``NAME.key`` public, ``NAME.key_secret`` both).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

log = logging.getLogger(__name__)

#: seconds between two log lines about refused handshakes (a stranger retries every 100 ms)
REFUSAL_LOG_INTERVAL = 10.0

PEER_DOMAIN = "peer"
CLIENT_DOMAIN = "client"


@dataclass(frozen=True)
class KeyPair:
    """A CURVE key pair, Z85-encoded (40 bytes each)."""

    public: bytes
    secret: bytes

    @classmethod
    def generate(cls) -> "KeyPair":
        """A fresh pair, e.g. a client's per-process key (clients are identified by token)."""
        public, secret = zmq.curve_keypair()
        return cls(public, secret)

    @classmethod
    def load(cls, secret_file: str | Path) -> "KeyPair":
        """Both keys from a ``.key_secret`` file; ValueError if it holds no secret key."""
        public, secret = zmq.auth.load_certificate(str(secret_file))
        if not secret:
            raise ValueError(f"{secret_file}: no secret key in this file (a .key_secret file is needed)")
        return cls(public, secret)


def load_public_key(path: str | Path) -> bytes:
    """The public key of a ``.key`` (or ``.key_secret``) file."""
    public, _secret = zmq.auth.load_certificate(str(path))
    return public


@dataclass(frozen=True)
class NodeCurve:
    """What a node needs to run CURVE: its own key pair and the members' public keys by id."""

    keys: KeyPair
    members: dict[int, bytes]


def serve_curve(sock: zmq.Socket, keys: KeyPair, domain: str) -> None:
    """Make a socket (before bind) a CURVE server checked by the ZAP ``domain``."""
    sock.curve_server = True
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.zap_domain = domain.encode()


def connect_curve(sock: zmq.Socket, keys: KeyPair, server_key: bytes) -> None:
    """Make a socket (before connect) a CURVE client of the server with ``server_key``."""
    sock.curve_serverkey = server_key
    sock.curve_publickey = keys.public
    sock.curve_secretkey = keys.secret


class _Allow:
    """The ZAP callback for both domains (see the module docstring)."""

    def __init__(self, member_keys: set[bytes]) -> None:
        self._members = member_keys
        self._refused = 0
        self._next_log = 0.0

    def callback(self, domain: str, key: bytes) -> bool:
        if domain == CLIENT_DOMAIN:
            return True
        allowed = domain == PEER_DOMAIN and key in self._members
        if not allowed:
            self._refused += 1
            if time.monotonic() >= self._next_log:
                self._next_log = time.monotonic() + REFUSAL_LOG_INTERVAL
                log.warning("refused CURVE handshakes on the %s socket from keys that are no member's "
                            "(%d so far; last key %r)", domain, self._refused, key.decode(errors="replace"))
        return allowed


class _MemberAuthenticator(ThreadAuthenticator):
    """A ZAP handler whose User-Id for a member's key is that member's id (``"2"``).

    Any other key (a client's) keeps pyzmq's default, its Z85 text; no client key can
    be mistaken for a member's: 40 characters of Z85 are never a node id.
    """

    def __init__(self, context: zmq.Context, members: dict[int, bytes]) -> None:
        super().__init__(context, log=logging.getLogger("skylock.zap"))
        self._member_of = {z85.decode(key): str(node_id) for node_id, key in members.items()}

    def curve_user_id(self, client_public_key: bytes) -> str:
        member = self._member_of.get(client_public_key)
        return member if member is not None else super().curve_user_id(client_public_key)


def start_authenticator(context: zmq.Context, members: dict[int, bytes]) -> ThreadAuthenticator:
    """Start the ZAP handler of ``context`` for the members' public keys by node id; must
    run before any CURVE server socket binds (without a handler libzmq would let every
    handshake through). Two members with one key are refused: a key must name one member."""
    if len(set(members.values())) != len(members):
        raise ValueError("two members share a CURVE public key; each node needs its own key pair")
    auth = _MemberAuthenticator(context, members)
    auth.start()
    allow = _Allow(set(members.values()))
    auth.configure_curve_callback(PEER_DOMAIN, credentials_provider=allow)
    auth.configure_curve_callback(CLIENT_DOMAIN, credentials_provider=allow)
    return auth


__all__ = [
    "KeyPair", "NodeCurve", "load_public_key", "serve_curve", "connect_curve", "start_authenticator",
    "PEER_DOMAIN", "CLIENT_DOMAIN",
]
