"""The test-only transport filter that the fault suite falls back to without namespaces."""

from __future__ import annotations

import json
from pathlib import Path

from skylock.net.fault_control import FaultControl, read_faults


class FakeTransport:
    node_id = 1

    def __init__(self) -> None:
        self.filter = None

    def set_filter(self, fn) -> None:
        self.filter = fn


def test_missing_or_bad_file_means_no_faults(tmp_path: Path) -> None:
    assert read_faults(tmp_path / "absent.json") == (frozenset(), 0.0)
    (tmp_path / "bad.json").write_text("{not json")
    assert read_faults(tmp_path / "bad.json") == (frozenset(), 0.0)


def test_blocked_peers_are_cut_both_ways_and_others_kept(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"blocked": [3]}))
    transport = FakeTransport()
    control = FaultControl(path, transport)  # type: ignore[arg-type]
    control._install(*read_faults(path))
    keep = transport.filter
    assert keep is not None
    assert not keep(1, 3) and not keep(3, 1) and keep(1, 2) and keep(2, 1)
    control._install(frozenset(), 0.0)
    assert transport.filter is None


def test_loss_drops_about_that_share(tmp_path: Path) -> None:
    transport = FakeTransport()
    FaultControl(tmp_path / "f.json", transport)._install(frozenset(), 0.5)  # type: ignore[arg-type]
    kept = sum(transport.filter(1, 2) for _ in range(2000))
    assert 800 < kept < 1200
