"""The limits block of ``server:``: defaults, units, validation, and the SDK's keepalive
fitting well inside the default idle limit."""

from __future__ import annotations

import pytest

from skylock.client import connection
from skylock.config import ConfigError, load_config


def test_defaults_and_units(tmp_path) -> None:
    sv = load_config(None).server
    assert (sv.max_backlog_bytes, sv.max_watches_per_connection, sv.max_watches) == (16 << 20, 10000, 100000)
    assert (sv.watch_idle_timeout, sv.max_sessions, sv.max_client_id_size) == (30.0, 100000, 256)
    path = tmp_path / "n.yaml"
    path.write_text("server: {max_backlog_bytes: 4MiB, watch_idle_timeout: 500ms, max_client_id_size: 1KiB}\n")
    sv = load_config(path).server
    assert (sv.max_backlog_bytes, sv.watch_idle_timeout, sv.max_client_id_size) == (4 << 20, 0.5, 1024)


@pytest.mark.parametrize("key", ["max_backlog_bytes", "max_watches_per_connection", "max_watches",
                                 "watch_idle_timeout", "max_sessions", "max_client_id_size"])
def test_a_limit_must_be_positive(key: str) -> None:
    with pytest.raises(ConfigError, match=f"server.{key}: must be greater than zero"):
        load_config(None, {f"server.{key}": 0})


def test_the_sdk_pings_well_within_the_default_idle_limit() -> None:
    assert connection.KEEPALIVE_INTERVAL * 3 <= load_config(None).server.watch_idle_timeout
