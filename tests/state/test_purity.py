"""skylock/state must stay deterministic: no clocks, randomness, threads, sockets or OS access."""

import ast
from pathlib import Path

import skylock.state

FORBIDDEN = {"threading", "socket", "zmq", "time", "os", "random", "datetime", "uuid", "secrets", "asyncio"}


def test_state_package_imports_nothing_nondeterministic():
    package = Path(skylock.state.__file__).parent
    for source in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{source.name} imports {name}"
