"""Secure mode's files: CURVE keys, a CA and node certificates, the root token, the
clients' credentials file; made once, reused on every later start.

Layout under a cluster's data directory (directories 0700, files 0600)::

    secure/curve/node{id}.key_secret   each node's CURVE key pair (security.curve_secret_key)
    secure/curve/public/node{id}.key   every member's public key  (security.curve_public_keys)
    secure/tls/ca.pem, ca.key          the CA that signs the HTTPS certificates
    secure/tls/node{id}.pem, .key      each node's HTTPS certificate and key
    credentials.yaml                   what a client needs: servers, their public keys,
                                       the CA, the HTTP URLs and the root token

On separate machines each host keeps only its own ``node{id}.key_secret`` and TLS key;
the ``public/`` directory and ``ca.pem`` go everywhere. The root token is only in the
credentials file; nodes keep its SHA-256 (``auth.root_token_sha256``).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
import zmq.auth

from skylock.config import NodeConfig
from skylock.net.curve import KeyPair, NodeCurve, load_public_key

CREDENTIALS_FILE = "credentials.yaml"
#: env var naming a credentials file; the SDK's ``Client.from_env`` and the CLI read it
CREDENTIALS_ENV = "SKYLOCK_CREDENTIALS"
#: env var with a bearer token; wins over the credentials file's token
TOKEN_ENV = "SKYLOCK_TOKEN"


def token_sha256(token: str) -> str:
    """What a node stores instead of a token (``auth.root_token_sha256``)."""
    return hashlib.sha256(token.encode()).hexdigest()


# --------------------------------------------------------------------------- private files


@contextmanager
def _private_umask() -> Iterator[None]:
    """Files and directories made inside are 0600/0700 from the start, never briefly readable."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    path.chmod(0o600)


# --------------------------------------------------------------------------- CURVE keys


def ensure_curve_keys(curve_dir: Path, node_ids: Sequence[int]) -> Path:
    """``node{id}.key_secret`` per node in ``curve_dir`` and ``node{id}.key`` in its
    ``public/`` (created if missing, kept if present); returns the public directory."""
    with _private_umask():
        public = _private_dir(curve_dir / "public")
        for node_id in node_ids:
            name = f"node{node_id}"
            if not (curve_dir / f"{name}.key_secret").exists():
                zmq.auth.create_certificates(str(curve_dir), name)
                (curve_dir / f"{name}.key_secret").chmod(0o600)
                shutil.move(str(curve_dir / f"{name}.key"), public / f"{name}.key")
            (public / f"{name}.key").chmod(0o600)
    return public


def node_curve(cfg: NodeConfig) -> NodeCurve:
    """The node's key pair and every member's public key, as the config names them."""
    sec = cfg.security
    assert sec.curve_secret_key is not None
    return NodeCurve(KeyPair.load(sec.curve_secret_key),
                     {m.id: load_public_key(sec.member_key_file(m.id)) for m in cfg.cluster.members})


# --------------------------------------------------------------------------- certificates


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _new_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _sign(subject: Any, public_key: Any, issuer: Any, issuer_key: Any, days: int, extensions: list[Any]) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days)))
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def ensure_ca(tls_dir: Path) -> tuple[Path, Path]:
    """``ca.pem`` and ``ca.key`` in ``tls_dir`` (a new CA if missing)."""
    from cryptography import x509

    cert, key_file = tls_dir / "ca.pem", tls_dir / "ca.key"
    if cert.exists() and key_file.exists():
        return cert, key_file
    key = _new_key()
    name = _name("SkyLock cluster CA")
    pem = _sign(name, key.public_key(), name, key, 3650,
                [(x509.BasicConstraints(ca=True, path_length=0), True),
                 (x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                key_encipherment=False, data_encipherment=False, key_agreement=False,
                                encipher_only=False, decipher_only=False), True)])
    _write_private(key_file, _key_pem(key))
    _write_private(cert, pem)
    return cert, key_file


def _san(hosts: Sequence[str]) -> Any:
    from cryptography import x509

    names: list[Any] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def ensure_node_cert(tls_dir: Path, node_id: int, hosts: Sequence[str]) -> tuple[Path, Path]:
    """``node{id}.pem``/``.key``: an HTTPS server certificate for ``hosts`` signed by the CA."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    cert, key_file = tls_dir / f"node{node_id}.pem", tls_dir / f"node{node_id}.key"
    if cert.exists() and key_file.exists():
        return cert, key_file
    ca_cert, ca_key_file = ensure_ca(tls_dir)
    ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    key = _new_key()
    pem = _sign(_name(f"skylock node {node_id}"), key.public_key(), ca.subject, _load_key(ca_key_file), 825,
                [(x509.BasicConstraints(ca=False, path_length=None), True),
                 (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
                 (_san(hosts), False)])
    _write_private(key_file, _key_pem(key))
    _write_private(cert, pem)
    return cert, key_file


# --------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credentials:
    """What a client of a secure cluster needs (the file ``SKYLOCK_CREDENTIALS`` names)."""

    servers: tuple[str, ...]
    #: client address -> that server's CURVE public key (Z85)
    server_keys: dict[str, bytes] = field(default_factory=dict)
    ca_cert: Path | None = None
    http: tuple[str, ...] = ()
    token: str | None = None

    def to_yaml(self) -> str:
        data = {
            "servers": list(self.servers),
            "server_keys": {addr: key.decode() for addr, key in self.server_keys.items()},
            "ca_cert": str(self.ca_cert) if self.ca_cert else None,
            "http": list(self.http),
            "token": self.token,
        }
        return ("# SkyLock client credentials: keep this file private (it holds a bearer token).\n"
                + yaml.safe_dump(data, sort_keys=False))

    def save(self, path: Path) -> None:
        with _private_umask():
            _write_private(path, self.to_yaml().encode())


def load_credentials(path: str | os.PathLike[str]) -> Credentials:
    """Read a credentials file; a relative ``ca_cert`` is relative to the file. ValueError if malformed."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read credentials: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("servers"), list) or not raw["servers"]:
        raise ValueError(f"{path}: credentials need a non-empty 'servers' list")
    keys = raw.get("server_keys") or {}
    if not isinstance(keys, dict) or not all(isinstance(v, str) and len(v) == 40 for v in keys.values()):
        raise ValueError(f"{path}: 'server_keys' must map each server address to its 40-character Z85 key")
    token = raw.get("token")
    if token is not None and not isinstance(token, str):
        raise ValueError(f"{path}: 'token' must be a string")
    ca = raw.get("ca_cert")
    return Credentials(
        servers=tuple(str(s) for s in raw["servers"]),
        server_keys={str(addr): key.encode() for addr, key in keys.items()},
        ca_cert=(path.parent / ca) if ca else None,
        http=tuple(str(u) for u in raw.get("http") or ()),
        token=token or None,
    )


# --------------------------------------------------------------------------- a local secure cluster


@dataclass(frozen=True)
class SecureCluster:
    """What ``prepare_secure_cluster`` made or found: config sections per node and the credentials."""

    sections: dict[int, dict[str, dict[str, Any]]]
    credentials: Credentials
    credentials_path: Path


def _relative(path: Path, root: Path) -> str:
    return "./" + path.relative_to(root).as_posix()


def prepare_secure_cluster(root: Path, members: Sequence[dict[str, Any]], *, http_scheme: str = "https") -> SecureCluster:
    """Keys, certificates and the root token for ``members`` (dicts with id, client_address,
    http_port) under ``root``, reusing whatever exists; writes the credentials file.

    Returns each node's ``security`` and ``auth`` config sections, with paths relative to
    ``root``, where the generated configs are written (so the directory can move)."""
    root = Path(root).absolute()
    with _private_umask():
        _private_dir(root)
        secure = _private_dir(root / "secure")
        curve_dir = _private_dir(secure / "curve")
        tls_dir = _private_dir(secure / "tls")
        ids = [int(m["id"]) for m in members]
        public = ensure_curve_keys(curve_dir, ids)
        ca_cert, _ = ensure_ca(tls_dir)
        creds_path = root / CREDENTIALS_FILE
        token = load_credentials(creds_path).token if creds_path.exists() else None
        token = token or secrets.token_urlsafe(32)
        sections: dict[int, dict[str, dict[str, Any]]] = {}
        http = []
        for m in members:
            host = str(m["client_address"]).rsplit(":", 1)[0].strip("[]")
            cert, key = ensure_node_cert(tls_dir, int(m["id"]), [host, "127.0.0.1", "localhost"])
            sections[int(m["id"])] = {
                "security": {"mode": "secure",
                             "curve_secret_key": _relative(curve_dir / f"node{m['id']}.key_secret", root),
                             "curve_public_keys": _relative(public, root),
                             "tls_cert": _relative(cert, root), "tls_key": _relative(key, root)},
                "auth": {"enabled": True, "root_token_sha256": token_sha256(token)},
            }
            http.append(f"{http_scheme}://{host}:{m['http_port']}")
    credentials = Credentials(
        servers=tuple(str(m["client_address"]) for m in members),
        server_keys={str(m["client_address"]): load_public_key(public / f"node{m['id']}.key") for m in members},
        ca_cert=ca_cert, http=tuple(http), token=token,
    )
    credentials.save(creds_path)
    return SecureCluster(sections, credentials, creds_path)


__all__ = [
    "CREDENTIALS_ENV", "TOKEN_ENV", "Credentials", "SecureCluster", "load_credentials", "node_curve",
    "prepare_secure_cluster", "token_sha256", "ensure_curve_keys", "ensure_ca", "ensure_node_cert",
]
