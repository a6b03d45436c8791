"""The WAL refuses to write a hard state it could not read back as int64."""

import pytest

from skylock.raft.types import HardState
from skylock.storage import WAL
from tests.storage.conftest import ents


@pytest.mark.parametrize("hs", [HardState(1 << 63, 0, 0), HardState((1 << 64) - 1, 0, 0), HardState(1, 1 << 63, 0)])
def test_an_out_of_range_hard_state_is_not_persisted(wal_dir, hs: HardState) -> None:
    with WAL.open(wal_dir)[0] as wal:
        wal.save(HardState(3, 2, 0), ents(1, 2))
        with pytest.raises(ValueError, match="not persisted"):
            wal.save(hs, [])
        with pytest.raises(ValueError, match="not persisted"):
            wal.save(hs, ents(3, 3))
    wal, rec = WAL.open(wal_dir)
    wal.close()
    assert rec.hard_state == HardState(3, 2, 0)
    assert [e.index for e in rec.entries] == [1, 2]
