"""The package type-checks: its annotations say what the code does.

Readers and tools trust an annotation as much as the code, and a wrong one misleads both
(a ``list[Waiter]`` that holds None, a handler "returning" a dict it never returns). mypy
runs on ``skylock/`` with the settings in pyproject.toml; it is pinned in the test extras
so that a new mypy release cannot fail this test on its own.
"""

from __future__ import annotations

from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parent.parent


def test_the_package_type_checks(tmp_path: Path) -> None:
    out, err, status = api.run([
        "--config-file", str(ROOT / "pyproject.toml"),
        "--cache-dir", str(tmp_path / "mypy-cache"),
        str(ROOT / "skylock"),
    ])
    assert status == 0, out + err
    assert "Success" in out
