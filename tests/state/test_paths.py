import pytest

from skylock.errors import BadPath
from skylock.state import validate_path
from skylock.state.paths import MAX_PATH_LENGTH, join_path, split_path


@pytest.mark.parametrize("path", ["/", "/a", "/a/b", "/a-b_c.d/e f", "/ü/日本", "/a..b", "/.a"])
def test_valid_paths_are_returned_unchanged(path):
    assert validate_path(path) == path


@pytest.mark.parametrize(
    "path, why",
    [
        ("", "empty"),
        ("a/b", "absolute"),
        ("/a/", "end with"),
        ("/a//b", "empty component"),
        ("/a/./b", "relative component"),
        ("/a/..", "relative component"),
        ("/a\x00b", "control"),
        ("/a\nb", "control"),
        ("/a\x7fb", "control"),
    ],
)
def test_invalid_paths_raise_badpath_saying_why(path, why):
    with pytest.raises(BadPath, match=why):
        validate_path(path)


def test_path_over_the_length_limit_is_rejected():
    with pytest.raises(BadPath, match="longer"):
        validate_path("/" + "a" * MAX_PATH_LENGTH)
    assert validate_path("/" + "a" * (MAX_PATH_LENGTH - 1))


def test_non_string_path_is_rejected():
    with pytest.raises(BadPath):
        validate_path(b"/a")  # type: ignore[arg-type]


def test_split_and_join_are_inverse():
    assert split_path("/a") == ("/", "a")
    assert split_path("/a/b/c") == ("/a/b", "c")
    assert join_path("/", "a") == "/a"
    assert join_path("/a/b", "c") == "/a/b/c"
