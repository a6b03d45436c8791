"""Typed node configuration loaded from YAML.

Sections follow the seed (cluster, server, raft, session, storage), extended with
the member list a ZeroMQ cluster needs. Every key has a default, so
``cluster: {node_id: 1}`` is a complete single-node config. Anything unknown or
ill-typed raises ``ConfigError`` naming the full dotted key, because a typo in a
timeout should stop the node at start-up rather than silently use a default.

Durations are floats in seconds (YAML: ``150ms``, ``10s``, ``1m``, ``1h`` or a
number of seconds); sizes are ints in bytes (YAML: ``512KiB``, ``1MiB``, ``1GiB``,
``100B`` or an int). A relative ``storage.data_dir`` in a config file (and the
default ``./data/node{node_id}`` when a file gives none) is relative to the
directory of that file, so a node finds its data whatever directory it is started
from; a ``storage.data_dir`` override (``skylock serve --data-dir``) is relative
to the current directory, like any path typed on a command line.

``security`` chooses open mode (the default: anyone who reaches a port is served) or
secure mode (CURVE on every ZeroMQ socket, HTTPS, see ``skylock.net.curve``); its
relative paths are relative to the config file's directory too. ``auth`` turns on
bearer-token checks in the gateway.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from skylock.net.address import split_address
from skylock.raft.lease import lease_ticks_for


class ConfigError(ValueError):
    """A config value is unknown, ill-typed or inconsistent; the message names the key."""


# --------------------------------------------------------------------------- value kinds

#: seconds = number * mul / div (division keeps "150ms" == 0.15 exactly)
_DURATION_UNITS = {"us": (1, 1_000_000), "ms": (1, 1000), "s": (1, 1), "m": (60, 1), "h": (3600, 1)}
_SIZE_UNITS = {"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "kb": 10**3, "mb": 10**6, "gb": 10**9}
_NUMBER_WITH_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_duration(value: Any) -> float:
    """'150ms' / '10s' / '1m' / '1h' / a number of seconds -> seconds; ValueError otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"expected a non-negative duration, got {value!r}")
        return float(value)
    if isinstance(value, str):
        match = _NUMBER_WITH_UNIT.match(value)
        if match and match.group(2).lower() in (*_DURATION_UNITS, ""):
            mul, div = _DURATION_UNITS[match.group(2).lower() or "s"]
            return float(match.group(1)) * mul / div
    raise ValueError(f"expected a duration like '500ms', got {value!r}")


def parse_size(value: Any) -> int:
    """'1MiB' / '512KiB' / '64MB' / '100B' / an int -> bytes; ValueError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"expected a non-negative size, got {value!r}")
        return value
    if isinstance(value, str):
        match = _NUMBER_WITH_UNIT.match(value)
        if match and match.group(2).lower() in _SIZE_UNITS:
            number = float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
            if number == int(number):
                return int(number)
    raise ValueError(f"expected a size like '1MiB', got {value!r}")


def format_duration(seconds: float) -> str:
    """The shortest exact spelling ('50ms', '10s', '1m'), so to_dict() reads like a hand-written file."""
    ms = round(seconds * 1000, 6)
    for unit, scale in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms and ms % scale == 0:
            return f"{int(ms // scale)}{unit}"
    return f"{int(ms)}ms" if ms == int(ms) else f"{round(seconds * 1e6)}us"


def format_size(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size and size % scale == 0:
            return f"{size // scale}{unit}"
    return str(size)


def _parse_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)  # command-line overrides arrive as text
    raise ValueError(f"expected an integer, got {value!r}")


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "on", "off"):
        return value.strip().lower() in ("true", "yes", "on")
    raise ValueError(f"expected true or false, got {value!r}")


def _parse_str(value: Any) -> str:
    if isinstance(value, str) and value:
        return value
    raise ValueError(f"expected a non-empty string, got {value!r}")


def _parse_sha256(value: Any) -> str:
    if value == "":
        return ""  # unset (how to_dict() writes the default)
    if isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{64}", value.strip()):
        return value.strip().lower()
    raise ValueError("expected the sha256 of a token as 64 hex digits (e.g. from `sha256sum`)")
def _parse_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(f"expected a string, got {value!r}")


def _parse_optional_path(value: Any) -> Path | None:
    return None if value is None else _parse_path(value)


def _parse_address(value: Any) -> str:
    split_address(value)
    return value


def _parse_optional_address(value: Any) -> str:
    """"" (unset: use the advertised address) or "host:port"."""
    return "" if value in ("", None) else _parse_address(value)


def _parse_path(value: Any) -> Path:
    return Path(_parse_str(value))


def _parse_fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"expected a number in [0, 1), got {value!r}")
    return float(value)


_PARSERS = {
    "fraction": _parse_fraction,
    "int": _parse_int,
    "bool": _parse_bool,
    "duration": parse_duration,
    "size": parse_size,
    "str": _parse_str,
    "address": _parse_address,
    "optional_address": _parse_optional_address,
    "path": _parse_path,
    "sha256": _parse_sha256,
    "text": _parse_text,
    "optional_path": _parse_optional_path,
}
_FORMATTERS: dict[str, Callable[[Any], Any]] = {"duration": format_duration, "size": format_size, "path": str,
               "optional_path": lambda v: None if v is None else str(v)}


def _kind(kind: str, default: Any) -> Any:
    return field(default=default, metadata={"kind": kind})


# --------------------------------------------------------------------------- sections

DEFAULT_PEER_ADDRESS = "127.0.0.1:7101"
DEFAULT_CLIENT_ADDRESS = "127.0.0.1:7001"
DEFAULT_HTTP_PORT = 8080


@dataclass(frozen=True)
class Member:
    """One cluster member: where peers, clients and HTTP users reach it (http_port 0 = any free port)."""

    id: int = _kind("int", 1)
    peer_address: str = _kind("address", DEFAULT_PEER_ADDRESS)
    client_address: str = _kind("address", DEFAULT_CLIENT_ADDRESS)
    http_port: int = _kind("int", DEFAULT_HTTP_PORT)


@dataclass(frozen=True)
class ClusterConfig:
    node_id: int = _kind("int", 1)
    #: every member including this node; empty in YAML means "just me, on default ports"
    members: tuple[Member, ...] = ()


@dataclass(frozen=True)
class ServerConfig:
    max_request_size: int = _kind("size", 2 << 20)
    max_data_size: int = _kind("size", 1 << 20)
    #: how long a write or read may wait for the cluster before the client gets ``Timeout``
    #: (shorter than the client's own default of 10 s, so the client hears the typed error)
    request_timeout: float = _kind("duration", 6.0)
    # -- limits on what clients can make a node hold (each refused with a typed error) --
    #: reply/event bytes held back for one connection that reads too slowly; beyond it
    #: they are dropped and its watches end with resync "overflow"
    max_backlog_bytes: int = _kind("size", 16 << 20)
    #: watches one connection may hold, and all connections together (LimitExceeded)
    max_watches_per_connection: int = _kind("int", 10000)
    max_watches: int = _kind("int", 100000)
    #: a connection holding watches that sends nothing for this long is taken for gone:
    #: its watches end (clients ping; the SDK does every few seconds)
    watch_idle_timeout: float = _kind("duration", 30.0)
    #: open sessions in the cluster, checked by the node that receives session.open
    max_sessions: int = _kind("int", 100000)
    #: bytes of a session's client_id (it is written to the log)
    max_client_id_size: int = _kind("size", 256)
    #: client connections this node serves at once: those heard from within
    #: ``watch_idle_timeout``; a frame from one more is answered LimitExceeded
    max_connections: int = _kind("int", 10000)
    # -- where this node listens, when that is not where others reach it (a NAT, a container,
    #    a machine with several interfaces): "host:port", e.g. "0.0.0.0:7001". Unset (""), a
    #    port is bound on this member's advertised address in ``cluster.members``, which is what
    #    peers and clients are told and connect to either way.
    listen_client: str = _kind("optional_address", "")
    listen_peer: str = _kind("optional_address", "")
    #: unset: the host the client port listens on, on the member's ``http_port``
    listen_http: str = _kind("optional_address", "")


@dataclass(frozen=True)
class RaftConfig:
    heartbeat_interval: float = _kind("duration", 0.05)
    election_timeout_min: float = _kind("duration", 0.5)
    election_timeout_max: float = _kind("duration", 1.0)
    pre_vote: bool = _kind("bool", True)
    check_quorum: bool = _kind("bool", True)
    #: One AppendEntries in flight per follower: what arrives meanwhile goes in the next,
    #: bigger batch. On one machine that gave 20% more writes/s than a pipeline of 256
    #: (fewer messages, fsyncs and acks per write); raise it for high-latency links.
    max_inflight_msgs: int = _kind("int", 1)
    max_size_per_msg: int = _kind("size", 1 << 20)
    #: The largest frame a node reads from a peer; bigger ones are refused unread. A
    #: snapshot travels in one frame, so this must exceed the largest snapshot.
    max_peer_message_size: int = _kind("size", 256 << 20)
    #: Lease-based linearizable reads (Raft thesis 6.4.1): while a majority's promise not to
    #: elect anyone else holds, the leader answers reads without a round of heartbeats. Off by
    #: default: its safety rests on clocks (the nodes' tick rates may differ by at most
    #: ``max_clock_drift``); ReadIndex's rests on nothing but messages.
    lease_reads: bool = _kind("bool", False)
    #: how far apart two nodes' clocks may run (0.1: 10%); the lease is that much shorter than
    #: the election timeout, and two ticks more
    max_clock_drift: float = _kind("fraction", 0.1)

    @property
    def tick_interval(self) -> float:
        """One Raft tick in seconds: the heartbeat interval."""
        return self.heartbeat_interval

    @property
    def heartbeat_tick(self) -> int:
        return 1

    @property
    def election_tick(self) -> int:
        """Minimum election timeout in ticks (the core randomises upward from it)."""
        return max(2, round(self.election_timeout_min / self.heartbeat_interval))

    @property
    def lease_ticks(self) -> int:
        """The read lease in ticks; 0 when lease reads are off."""
        return lease_ticks_for(self.election_tick, self.max_clock_drift) if self.lease_reads else 0

    @property
    def election_tick_max(self) -> int:
        """Exclusive bound of the randomized election timeout in ticks (always above the minimum)."""
        return max(self.election_tick + 1, round(self.election_timeout_max / self.heartbeat_interval))


@dataclass(frozen=True)
class SessionConfig:
    default_ttl: float = _kind("duration", 10.0)
    max_ttl: float = _kind("duration", 60.0)
    min_ttl: float = _kind("duration", 1.0)
    check_interval: float = _kind("duration", 0.1)


@dataclass(frozen=True)
class StorageConfig:
    #: default ./data/node{node_id}
    data_dir: Path = _kind("path", Path("./data/node1"))
    fsync: bool = _kind("bool", True)
    segment_size: int = _kind("size", 64 << 20)
    snapshot_entries: int = _kind("int", 10000)
    #: a snapshot is also taken once this much entry data was applied since the last one
    snapshot_bytes: int = _kind("size", 64 << 20)
    keep_entries: int = _kind("int", 5000)
    #: the entries kept behind a snapshot hold at most this much data (and keep_entries entries)
    keep_bytes: int = _kind("size", 32 << 20)
    watch_history: int = _kind("int", 100000)


SECURITY_MODES = ("open", "secure")


@dataclass(frozen=True)
class SecurityConfig:
    """Transport security. ``open``: no encryption and no authentication of peers or
    clients (a trusted network only). ``secure``: CURVE on the peer and client sockets,
    HTTPS for REST; every key below is then required."""

    mode: str = _kind("str", "open")
    #: this node's ``.key_secret`` file (zmq.auth format): its CURVE key pair
    curve_secret_key: Path | None = _kind("optional_path", None)
    #: a directory with ``node{id}.key`` for every member: the only keys let in on the peer port
    curve_public_keys: Path | None = _kind("optional_path", None)
    #: PEM certificate (chain) and private key of the HTTPS server
    tls_cert: Path | None = _kind("optional_path", None)
    tls_key: Path | None = _kind("optional_path", None)

    @property
    def secure(self) -> bool:
        return self.mode == "secure"

    def member_key_file(self, member_id: int) -> Path:
        assert self.curve_public_keys is not None
        return self.curve_public_keys / f"node{member_id}.key"


@dataclass(frozen=True)
class AuthConfig:
    """Secure mode's authorization. Off (the default): every request is allowed, as in open
    mode. On: every op but ``ping`` needs a bearer token naming the root user or a user of
    the replicated auth table, and a grant for what it does (see docs/PROTOCOL.md)."""

    enabled: bool = _kind("bool", False)
    #: sha256 (hex) of the root user's token. The root user lives in the configs, not in the
    #: log, so that a cluster always has an administrator; rotating its token means writing
    #: the new hash into every node's config and restarting the nodes.
    root_token_sha256: str = _kind("sha256", "")


_SECTIONS: dict[str, type] = {
    "cluster": ClusterConfig,
    "server": ServerConfig,
    "raft": RaftConfig,
    "session": SessionConfig,
    "storage": StorageConfig,
    "security": SecurityConfig,
    "auth": AuthConfig,
}
_SECURITY_PATHS = ("curve_secret_key", "curve_public_keys", "tls_cert", "tls_key")


@dataclass(frozen=True)
class NodeConfig:
    """The whole configuration of one node."""

    cluster: ClusterConfig = ClusterConfig()
    server: ServerConfig = ServerConfig()
    raft: RaftConfig = RaftConfig()
    session: SessionConfig = SessionConfig()
    storage: StorageConfig = StorageConfig()
    security: SecurityConfig = SecurityConfig()
    auth: AuthConfig = AuthConfig()

    @property
    def me(self) -> Member:
        return next(m for m in self.cluster.members if m.id == self.cluster.node_id)

    @property
    def listen_client(self) -> str:
        """The "host:port" the client port binds (``server.listen_client``, else the advertised one)."""
        return self.server.listen_client or self.me.client_address

    @property
    def listen_peer(self) -> str:
        return self.server.listen_peer or self.me.peer_address

    @property
    def listen_http(self) -> str:
        """The "host:port" the HTTP port binds: by default the client port's listen host, on ``http_port``."""
        return self.server.listen_http or f"{split_address(self.listen_client)[0]}:{self.me.http_port}"

    @property
    def peers(self) -> dict[int, str]:
        """Peer addresses of the other members, by id."""
        return {m.id: m.peer_address for m in self.cluster.members if m.id != self.cluster.node_id}

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-ready dict (durations and sizes spelled with units); loads back equal."""
        return {name: _to_plain(getattr(self, name)) for name in _SECTIONS}


def _to_plain(obj: Any) -> Any:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name == "members":
            out[f.name] = [_to_plain(m) for m in value]
        else:
            out[f.name] = _FORMATTERS.get(f.metadata.get("kind", ""), lambda v: v)(value)
    return out


# --------------------------------------------------------------------------- loading


def _parse_section(cls: type, raw: Any, prefix: str) -> dict[str, Any]:
    """Parse one mapping into constructor kwargs for ``cls`` (members handled by the caller)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix}: expected a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            known = ", ".join(fields)
            raise ConfigError(f"{prefix}.{key}: unknown key (known: {known})")
        kind = fields[key].metadata.get("kind")
        if kind is None:
            kwargs[key] = value
            continue
        try:
            kwargs[key] = _PARSERS[kind](value)
        except ValueError as exc:
            raise ConfigError(f"{prefix}.{key}: {exc}") from None
    return kwargs


def _parse_members(raw: Any, node_id: int) -> tuple[Member, ...]:
    if raw is None or raw == []:
        return (Member(id=node_id),)
    if not isinstance(raw, list):
        raise ConfigError(f"cluster.members: expected a list of members, got {raw!r}")
    members = []
    for i, entry in enumerate(raw):
        where = f"cluster.members[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping like {{id: 1, peer_address: ...}}, got {entry!r}")
        if "id" not in entry:
            raise ConfigError(f"{where}.id: missing (every listed member needs its id)")
        members.append(Member(**_parse_section(Member, entry, where)))
    return tuple(members)


def _build(raw: dict[str, Any], base_dir: Path | None = None, file_dir: Path | None = None) -> NodeConfig:
    """``base_dir``: where a relative data_dir from the file (or the default) lives;
    ``file_dir``: the config file's directory, for the relative paths of ``security``."""
    sections: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in _SECTIONS:
            raise ConfigError(f"{name}: unknown section (known: {', '.join(_SECTIONS)})")
    cluster_raw = raw.get("cluster") or {}
    if not isinstance(cluster_raw, dict):
        raise ConfigError(f"cluster: expected a mapping, got {cluster_raw!r}")
    cluster = _parse_section(ClusterConfig, {k: v for k, v in cluster_raw.items() if k != "members"}, "cluster")
    node_id = cluster.get("node_id", 1)
    sections["cluster"] = ClusterConfig(node_id=node_id, members=_parse_members(cluster_raw.get("members"), node_id))
    for name, cls in _SECTIONS.items():
        if name != "cluster":
            sections[name] = cls(**_parse_section(cls, raw.get(name), name))
    storage = sections["storage"]
    if "data_dir" not in (raw.get("storage") or {}):
        storage = dataclasses.replace(storage, data_dir=Path(f"./data/node{node_id}"))
    if base_dir is not None and not storage.data_dir.is_absolute():
        storage = dataclasses.replace(storage, data_dir=Path(os.path.normpath(base_dir / storage.data_dir)))
    sections["storage"] = storage
    if file_dir is not None:
        security = sections["security"]
        sections["security"] = dataclasses.replace(security, **{
            key: Path(os.path.normpath(file_dir / value))
            for key in _SECURITY_PATHS if (value := getattr(security, key)) is not None and not value.is_absolute()
        })
    cfg = NodeConfig(**sections)
    _validate(cfg)
    return cfg


def _validate(cfg: NodeConfig) -> None:
    members = cfg.cluster.members
    ids = [m.id for m in members]
    for i, m in enumerate(members):
        if m.id < 1:
            raise ConfigError(f"cluster.members[{i}].id: must be a positive integer, got {m.id}")
        if not 0 <= m.http_port <= 65535:
            raise ConfigError(f"cluster.members[{i}].http_port: must be 0..65535, got {m.http_port}")
        if ids.index(m.id) != i:
            raise ConfigError(f"cluster.members[{i}].id: duplicate member id {m.id}")
    if cfg.cluster.node_id not in ids:
        raise ConfigError(f"cluster.node_id: {cfg.cluster.node_id} is not among cluster.members (ids {ids})")
    seen: dict[Any, str] = {}
    for i, m in enumerate(members):
        host = split_address(m.client_address)[0]
        for key, addr in (
            ("peer_address", m.peer_address),
            ("client_address", m.client_address),
            ("http_port", (host, m.http_port) if m.http_port else None),
        ):
            if addr is None or (isinstance(addr, str) and split_address(addr)[1] == 0):
                continue  # "no HTTP" / "any free port" cannot clash
            here = f"cluster.members[{i}].{key}"
            if addr in seen:
                raise ConfigError(f"{here}: {addr!r} is already used by {seen[addr]}")
            seen[addr] = here

    def positive(key: str, value: float) -> None:
        if value <= 0:
            raise ConfigError(f"{key}: must be greater than zero, got {value!r}")

    r, s, st, sv = cfg.raft, cfg.session, cfg.storage, cfg.server
    for key, value in (
        ("server.max_request_size", sv.max_request_size),
        ("server.max_data_size", sv.max_data_size),
        ("server.request_timeout", sv.request_timeout),
        ("server.max_backlog_bytes", sv.max_backlog_bytes),
        ("server.max_watches_per_connection", sv.max_watches_per_connection),
        ("server.max_watches", sv.max_watches),
        ("server.watch_idle_timeout", sv.watch_idle_timeout),
        ("server.max_sessions", sv.max_sessions),
        ("server.max_client_id_size", sv.max_client_id_size),
        ("server.max_connections", sv.max_connections),
        ("raft.heartbeat_interval", r.heartbeat_interval),
        ("raft.max_inflight_msgs", r.max_inflight_msgs),
        ("raft.max_size_per_msg", r.max_size_per_msg),
        ("raft.max_peer_message_size", r.max_peer_message_size),
        ("session.min_ttl", s.min_ttl),
        ("session.check_interval", s.check_interval),
        ("storage.segment_size", st.segment_size),
        ("storage.snapshot_entries", st.snapshot_entries),
        ("storage.snapshot_bytes", st.snapshot_bytes),
        ("storage.watch_history", st.watch_history),
    ):
        positive(key, value)
    if st.keep_entries < 0:
        raise ConfigError(f"storage.keep_entries: must not be negative, got {st.keep_entries}")
    if sv.max_data_size > sv.max_request_size:
        raise ConfigError(
            f"server.max_data_size: {format_size(sv.max_data_size)} exceeds server.max_request_size "
            f"{format_size(sv.max_request_size)} (a request must be able to carry the largest data)"
        )
    smallest = r.max_size_per_msg + 2 * sv.max_request_size
    if r.max_peer_message_size < smallest:
        raise ConfigError(
            f"raft.max_peer_message_size: {format_size(r.max_peer_message_size)} cannot carry an append of "
            f"raft.max_size_per_msg, a request of server.max_request_size and their framing; use at least {format_size(smallest)}"
        )
    if r.election_timeout_min >= r.election_timeout_max:
        raise ConfigError(
            f"raft.election_timeout_min: {format_duration(r.election_timeout_min)} must be less than "
            f"raft.election_timeout_max {format_duration(r.election_timeout_max)} (each election timeout "
            "is drawn at random between them, so that nodes rarely time out together)"
        )
    if r.lease_reads and not r.check_quorum:
        raise ConfigError("raft.lease_reads: needs raft.check_quorum (the followers' promise the lease rests on)")
    if r.lease_reads and r.lease_ticks == 0:
        raise ConfigError(
            f"raft.lease_reads: an election timeout of {r.election_tick} heartbeats leaves no lease with "
            f"raft.max_clock_drift {r.max_clock_drift}; raise raft.election_timeout_min")
    if r.election_timeout_min < 2 * r.heartbeat_interval:
        raise ConfigError(
            f"raft.election_timeout_min: {format_duration(r.election_timeout_min)} must be at least twice "
            f"raft.heartbeat_interval ({format_duration(r.heartbeat_interval)})"
        )
    if cfg.auth.enabled and not cfg.auth.root_token_sha256:
        raise ConfigError(
            "auth.root_token_sha256: required when auth.enabled is true (the sha256 of the root user's "
            "token, e.g. `printf %s TOKEN | sha256sum`)"
        )
    _validate_security(cfg)
    if not s.min_ttl <= s.default_ttl <= s.max_ttl:
        raise ConfigError(
            f"session.default_ttl: {format_duration(s.default_ttl)} must lie between session.min_ttl "
            f"{format_duration(s.min_ttl)} and session.max_ttl {format_duration(s.max_ttl)}"
        )


def _validate_security(cfg: NodeConfig) -> None:
    """Secure mode needs every key and certificate, readable now, not at the first handshake."""
    sec, auth = cfg.security, cfg.auth
    if sec.mode not in SECURITY_MODES:
        raise ConfigError(f"security.mode: must be one of {', '.join(SECURITY_MODES)}, got {sec.mode!r}")
    if auth.root_token_sha256 and not re.fullmatch(r"[0-9a-f]{64}", auth.root_token_sha256):
        raise ConfigError("auth.root_token_sha256: must be 64 lowercase hex digits (sha256 of the root token)")
    if not sec.secure:
        return
    for key in _SECURITY_PATHS:
        path = getattr(sec, key)
        if path is None:
            raise ConfigError(f"security.{key}: required when security.mode is secure")
        if not path.exists():
            raise ConfigError(f"security.{key}: {path} does not exist")
    if not sec.curve_public_keys.is_dir():  # type: ignore[union-attr]
        raise ConfigError(f"security.curve_public_keys: {sec.curve_public_keys} is not a directory")
    for m in cfg.cluster.members:
        if not sec.member_key_file(m.id).is_file():
            raise ConfigError(f"security.curve_public_keys: no public key {sec.member_key_file(m.id)} "
                              f"for member {m.id} (every member's node{{id}}.key is needed)")


def _apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Set dotted keys ("raft.pre_vote") in the raw mapping; the normal checks then apply."""
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        if len(parts) < 2 or not all(parts):
            raise ConfigError(f"{dotted}: an override key must be 'section.key'")
        node = raw
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"{'.'.join(parts[: depth + 1])}: cannot override inside a non-mapping")
            node = child
        node[parts[-1]] = value


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> NodeConfig:
    """Read ``path`` (None = all defaults), apply dotted ``overrides``, validate.

    A relative ``storage.data_dir`` from the file is resolved against the file's
    directory; one given as an override is left relative to the current directory.
    """
    raw: Any = {}
    base_dir: Path | None = None
    file_dir: Path | None = None
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}")
        base_dir = file_dir = Path(path).absolute().parent
    if overrides:
        _apply_overrides(raw, overrides)
        if "storage.data_dir" in overrides:
            base_dir = None
    return _build(raw, base_dir, file_dir)


def write_config(cfg: dict[str, Any] | NodeConfig, path: str | Path) -> None:
    """Write a config (a ``to_dict()`` result or a NodeConfig) as YAML, sections in order."""
    data = cfg.to_dict() if isinstance(cfg, NodeConfig) else cfg
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None), encoding="utf-8")


__all__ = [
    "ConfigError",
    "Member",
    "ClusterConfig",
    "ServerConfig",
    "RaftConfig",
    "SessionConfig",
    "StorageConfig",
    "SecurityConfig",
    "AuthConfig",
    "NodeConfig",
    "load_config",
    "write_config",
    "parse_duration",
    "parse_size",
    "format_duration",
    "format_size",
]
