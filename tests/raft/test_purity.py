"""skylock/raft must stay pure: no clocks, threads, sockets, files or global randomness."""

import ast
from pathlib import Path

import skylock.raft

FORBIDDEN = {"threading", "socket", "zmq", "time", "os", "asyncio", "subprocess"}


def test_raft_package_imports_nothing_impure() -> None:
    for path in Path(skylock.raft.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                assert root not in FORBIDDEN, f"{path.name} imports {name}"
                if root == "random":  # only as the type of the injected RNG
                    assert path.name == "config.py", f"{path.name} imports random"
