"""Runs every tests/raft/testdata/*.txt transcript; SKYLOCK_REWRITE=1 re-records them."""

import os
from pathlib import Path

import pytest

from tests.raft.transcript import run_file

TESTDATA = Path(__file__).parent / "testdata"


@pytest.mark.parametrize("path", sorted(TESTDATA.glob("*.txt")), ids=lambda p: p.stem)
def test_transcript(path: Path) -> None:
    problems = run_file(path, rewrite=os.environ.get("SKYLOCK_REWRITE") == "1")
    assert not problems, "\n\n".join(problems)
