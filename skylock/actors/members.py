"""Where each member is: its addresses, carried in the Raft configuration.

Each member's entry in a ``ConfState`` has an opaque context; here it is msgpack of
``{"peer_address", "client_address", "http_port"}``. The configuration travels in the
log (CONF entries) and in snapshots, so every node, a joining one and a restarted one
included, learns where the members are from the cluster, not from its config file.
A configuration bootstrapped before contexts existed has none: the config file's
members fill those gaps (``member_table``).
"""

from __future__ import annotations

from typing import Any

import msgpack

from skylock.errors import BadRequest
from skylock.raft import ConfState
from skylock.raft.membership import make_conf

FIELDS = ("peer_address", "client_address", "http_port")
Address = dict[str, Any]


def encode_member(info: Address) -> bytes:
    return msgpack.packb({k: info[k] for k in FIELDS}, use_bin_type=True)


def decode_member(ctx: bytes) -> Address | None:
    """A member's addresses, or None for a context that does not hold them."""
    try:
        info = msgpack.unpackb(ctx, raw=False)
    except Exception:  # noqa: BLE001 - msgpack raises many types; an unknown context is just unknown
        return None
    if not isinstance(info, dict) or any(k not in info for k in FIELDS):
        return None
    return {k: info[k] for k in FIELDS}


def bootstrap_conf(members: dict[int, Address]) -> ConfState:
    """The first configuration of a cluster started from config files: every member a voter,
    each with its addresses."""
    return make_conf(members, (), {i: encode_member(a) for i, a in members.items()})


def member_table(conf: ConfState, fallback: dict[int, Address]) -> dict[int, Address]:
    """Addresses of every member of ``conf`` (voters and learners), from its contexts, else
    from ``fallback`` (the config file); a member known to neither is left out."""
    contexts = dict(conf.contexts)
    table: dict[int, Address] = {}
    for node_id in sorted((*conf.voters, *conf.learners)):
        info = decode_member(contexts.get(node_id, b"")) or fallback.get(node_id)
        if info is not None:
            table[node_id] = dict(info)
    return table


def describe(conf: ConfState, table: dict[int, Address], leader: int) -> list[dict[str, Any]]:
    """The ``member.list`` answer: one row per member, voters and learners."""
    rows = []
    for node_id in sorted((*conf.voters, *conf.learners)):
        role = "voter" if node_id in conf.voters else "learner"
        rows.append({"id": node_id, "role": role, "leader": node_id == leader, **table.get(node_id, {})})
    return rows


MEMBER_OPS = frozenset({"member.list", "member.add", "member.promote", "member.remove", "leader.transfer"})


def check_member_args(op: str, args: dict[str, Any]) -> dict[str, Any]:
    """Bad addresses are answered by the gateway, never logged."""
    if op == "member.add":
        check_address("peer_address", args["peer_address"])
        check_address("client_address", args["client_address"])
        if args["http_port"] > 65535:
            raise BadRequest(f"http_port must be 0..65535, got {args['http_port']}")
    return args


def check_address(name: str, value: Any) -> str:
    """``host:port`` with a port in 1..65535: refused here, before it enters the log."""
    host, sep, port = str(value).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadRequest(f"{name} must be host:port, got {value!r}")
    return str(value)
