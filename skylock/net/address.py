""""host:port" addresses as written in configs, and their ZeroMQ endpoints."""

from __future__ import annotations

import zmq


def split_address(address: str) -> tuple[str, int]:
    """Parse "host:port" (port 0..65535, 0 = any free port); ValueError says what is wrong."""
    if not isinstance(address, str):
        raise ValueError(f"expected 'host:port', got {address!r}")
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected 'host:port' with a port 0..65535, got {address!r}")
    return host, int(port)


def tcp_endpoint(address: str) -> str:
    """"host:port" -> "tcp://host:port"; port 0 becomes '*' so the OS picks a free port."""
    host, port = split_address(address)
    return f"tcp://{host}:{port or '*'}"


#: Wildcard hosts a socket can bind but a client cannot usefully name; a local client
#: reaches such a socket through loopback.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "*": "127.0.0.1", "::": "::1", "[::]": "[::1]"}


def local_address(bound: str) -> str:
    """The "host:port" a client on this machine connects to for a socket bound on ``bound``:
    the same, except that a wildcard host ("0.0.0.0") becomes loopback."""
    host, port = split_address(bound)
    return f"{_WILDCARDS.get(host, host)}:{port}"


def bound_address(sock: zmq.Socket) -> str:
    """The "host:port" a bound socket actually listens on (resolves port 0)."""
    return sock.getsockopt_string(zmq.LAST_ENDPOINT).removeprefix("tcp://")
