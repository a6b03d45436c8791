"""Packages depend downward: no module under skylock/ imports a package above its own.

The layout (DESIGN 1b) keeps the pure logic at the bottom and the edges on top; an
upward import is how a lower layer starts to need a running node, a socket or the
SDK, and then cannot be tested or reused without it. This parses every module with
``ast`` (no import runs), resolves each import of ``skylock`` (absolute, relative,
``from skylock import x``, and imports inside functions) to the top-level unit it
lands in, and checks the unit sits strictly lower, or is the importer's own unit.
Units of one level are siblings: they must not import each other either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import skylock

ROOT = Path(skylock.__file__).parent

#: Lowest first. A unit is a package (``raft``) or a top-level module (``errors``).
LEVELS: list[tuple[str, ...]] = [
    ("__init__", "errors"),    # leaves: the package itself, the one error family shared by all
    ("raft", "state"),         # pure: consensus, replicated state machine
    ("storage",),              # durable I/O for the Raft log (imports raft's types)
    ("net",),                  # codec, addresses, CURVE, peer transport, client server
    ("config",),               # typed YAML config; validates addresses with net.address
    ("security",),             # key material and credentials; reads NodeConfig, builds net.curve keys
    ("actors", "client"),      # the node's actors / the SDK: independent of each other
    ("http",),                 # the REST front end: a client of its own node, ABOVE client (DESIGN 1b)
    ("backup",),               # snapshot save (a client) / restore (writes storage) / inspect
    # node.py is the process's composition root: it recovers storage, starts the actors,
    # the sockets AND the HTTP gateway, so it sits above http, not beside client.
    ("node", "logs"),         # logs: the node process's log format (reads actors' RaftViewBoard)
    ("cli", "layout"),         # the command line; the cluster-layout writer of start_cluster.py and tests
]

#: Modules that belong to another unit: cli_auth.py, cli_member.py and cli_snapshot.py are
#: groups of the CLI (``auth``, ``member``, ``snapshot``).
UNIT_ALIASES = {"cli_auth": "cli", "cli_member": "cli", "cli_snapshot": "cli"}

#: Upward imports allowed on purpose, as (importing unit, imported unit): reason. None today.
EXCEPTIONS: dict[tuple[str, str], str] = {}

LEVEL_OF = {unit: i for i, tier in enumerate(LEVELS) for unit in tier}


def _module_name(path: Path) -> list[str]:
    """``skylock/http/api.py`` -> ["skylock", "http", "api"]; a package's __init__ is the package."""
    parts = ["skylock", *path.relative_to(ROOT).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts


def _unit(module: list[str]) -> str:
    """The top-level unit a ``skylock.*`` module name belongs to."""
    name = module[1] if len(module) > 1 else "__init__"
    return UNIT_ALIASES.get(name, name)


def _imported_modules(path: Path) -> list[tuple[int, list[str]]]:
    """Every ``skylock`` module ``path`` imports, as (line, dotted parts), relative imports resolved."""
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here[:-1]
    found: list[tuple[int, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = base + (node.module.split(".") if node.module else [])
            # ``from skylock import cli_auth`` names a submodule, not an attribute of skylock/__init__.
            if module == ["skylock"]:
                found += [(node.lineno, ["skylock", a.name]) for a in node.names]
            else:
                found.append((node.lineno, module))
    return [(line, m) for line, m in found if m[0] == "skylock"]


def _modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def upward_imports() -> list[str]:
    """One line per import that reaches a unit not strictly below the importer's (its own is fine)."""
    bad: list[str] = []
    for path in _modules():
        importer = _unit(_module_name(path))
        if importer not in LEVEL_OF:  # reported by test_every_unit_has_a_level
            continue
        for line, module in _imported_modules(path):
            imported = _unit(module)
            if imported == importer or (importer, imported) in EXCEPTIONS:
                continue
            if imported not in LEVEL_OF or LEVEL_OF[imported] >= LEVEL_OF[importer]:
                rel = path.relative_to(ROOT.parent)
                bad.append(f"{rel}:{line}: {importer} (level {LEVEL_OF[importer]}) imports "
                           f"{'.'.join(module)} ({imported}, level {LEVEL_OF.get(imported, '?')})")
    return bad


def test_every_unit_has_a_level() -> None:
    """A new package or top-level module must be placed in LEVELS, not slip past the check."""
    units = {_unit(_module_name(path)) for path in _modules()}
    unplaced = sorted(units - LEVEL_OF.keys())
    assert not unplaced, f"place these in LEVELS of {Path(__file__).name}: {unplaced}"


def test_no_package_imports_one_above_it_or_a_sibling() -> None:
    bad = upward_imports()
    assert not bad, "imports that go up (or sideways) the layering:\n" + "\n".join(bad)

