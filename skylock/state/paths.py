"""Path syntax of the data tree.

Paths are validated once, at the edge of ``apply``, so the tree itself can
treat every path it sees as well formed and split it with plain string ops.
"""

from __future__ import annotations

from skylock.errors import BadPath

#: Longest path accepted, in characters (ZooKeeper's practical limit is similar).
MAX_PATH_LENGTH = 1024

ROOT = "/"


def validate_path(path: object) -> str:
    """Return ``path`` if it is a valid absolute node path, else raise ``BadPath`` saying why."""
    if not isinstance(path, str):
        raise BadPath(f"path must be a string, not {type(path).__name__}")
    if not path:
        raise BadPath("path is empty")
    if len(path) > MAX_PATH_LENGTH:
        raise BadPath(f"path is longer than {MAX_PATH_LENGTH} characters", path=path[:64] + "...")
    if path[0] != "/":
        raise BadPath("path must be absolute (start with '/')", path=path)
    if path == ROOT:
        return path
    if path[-1] == "/":
        raise BadPath("path must not end with '/'", path=path)
    for ch in path:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            raise BadPath(f"path contains a control or invalid character U+{code:04X}", path=path)
    for component in path[1:].split("/"):
        if component == "":
            raise BadPath("path has an empty component ('//')", path=path)
        if component in (".", ".."):
            raise BadPath(f"path has a relative component {component!r}", path=path)
    return path


def split_path(path: str) -> tuple[str, str]:
    """Split a valid non-root path into (parent path, child name)."""
    slash = path.rfind("/")
    return (path[:slash] or ROOT), path[slash + 1 :]


def join_path(parent: str, name: str) -> str:
    """The path of child ``name`` under ``parent``."""
    return parent + name if parent == ROOT else parent + "/" + name
