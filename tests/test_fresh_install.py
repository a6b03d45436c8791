"""Every third-party import of the project is declared in pyproject.toml, so that the README's
``pip install -e '.[test]' && pytest`` on a fresh virtual environment runs the whole suite
(it once stopped at ``No module named 'hypothesis'``)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["skylock", "tests", "bench", "start_cluster.py"]
#: pytest plugins named only in configuration, not imported: pytest-timeout (``timeout = ...``).
PLUGINS = {"pytest-timeout"}


def top_level_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def third_party_imports() -> dict[str, Path]:
    """Module name -> one file importing it; neither the standard library nor the project's own."""
    own = {"skylock", "tests", "bench"}
    modules: dict[str, Path] = {}
    for source in SOURCES:
        base = ROOT / source
        for path in [base] if base.is_file() else sorted(base.rglob("*.py")):
            for module in top_level_imports(path):
                if module not in sys.stdlib_module_names and module not in own:
                    modules.setdefault(module, path)
    return modules


def normalized(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_third_party_import_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {normalized(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    distributions = packages_distributions()
    modules = third_party_imports()
    assert {"zmq", "yaml", "pytest", "hypothesis"} <= set(modules), "the scan finds the known imports"
    missing = {}
    for module, path in modules.items():
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not names & declared:
            missing[module] = str(path.relative_to(ROOT))
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    assert PLUGINS <= declared


def test_ci_installs_as_the_readme_says_into_a_fresh_virtual_environment() -> None:
    """.ci/run used to install into whatever environment ran it, where a package installed by
    hand hid a missing declaration; now it makes a new venv each run and uses the README's commands."""
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    install, test = "pip install -e '.[test]'", "pytest"
    assert f"{install} && {test}" in readme
    assert re.search(r'venv="\$\(mktemp -d\)/venv"\n', ci) and 'python -m venv "$venv"' in ci
    assert 'source "$venv/bin/activate"' in ci
    lines = [line.split("#")[0].strip() for line in ci.splitlines()]
    assert lines.index(install) < lines.index("pytest -q") == max(i for i, line in enumerate(lines) if line)
