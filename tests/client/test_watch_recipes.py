"""DataWatch, ChildrenWatch and TreeCache against a real cluster (one for the module):
the first call comes at once with the current state, then one per change made by another
client; returning False stops a watcher; a cache follows a subtree."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from skylock.client import Client, ChildrenWatch, DataWatch, Event, NoNode, TreeCache, TreeEvent
from tests.integration.cluster import LocalCluster, wait_until


def flush(client: Client) -> None:
    """Return once the event thread ran everything queued so far."""
    client.events.run(lambda: None)


def probe(client: Client, path: str) -> "Calls":
    """A DataWatch on ``path`` of the same client: once it saw a write, the events of that
    write for the client's other watches have come in as well (same server, same socket)."""
    seen = Calls()
    DataWatch(client, path, lambda data, stat: seen.add(data))
    return seen


class Calls:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[Any] = []

    def add(self, item: Any) -> None:
        with self._lock:
            self.items.append(item)

    def snapshot(self) -> list[Any]:
        with self._lock:
            return list(self.items)


def test_data_watch_reports_now_then_each_change_until_false(cluster: LocalCluster) -> None:
    client, writer = cluster.client(), cluster.client()
    calls = Calls()

    @DataWatch(client, "/dw")
    def changed(data: bytes | None, stat: dict[str, Any] | None, event: Event | None) -> bool:
        calls.add((data, event.type if event else None))
        return data != b"stop"

    assert calls.snapshot() == [(None, None)]  # at once: the node does not exist yet
    writer.create("/dw", b"one")
    wait_until(lambda: len(calls.snapshot()) == 2, what="the creation")
    for data in (b"two", b"three"):
        writer.set("/dw", data)
        wait_until(lambda data=data: calls.snapshot()[-1][0] == data, what=f"the change to {data!r}")
    writer.delete("/dw")
    wait_until(lambda: calls.snapshot()[-1][0] is None, what="the deletion")
    writer.create("/dw", b"stop")
    wait_until(lambda: calls.snapshot()[-1][0] == b"stop", what="the last call")
    after = probe(client, "/dw")
    writer.set("/dw", b"after")
    wait_until(lambda: after.snapshot()[-1] == b"after", what="the probe to see the next write")
    flush(client)
    assert [c[0] for c in calls.snapshot()] == [None, b"one", b"two", b"three", None, b"stop"]
    assert [c[1] for c in calls.snapshot()] == [None, "created", "data_changed", "data_changed", "deleted", "created"]
    assert changed.__name__ == "changed"  # the decorator gives the function back


def test_children_watch_reports_the_names_until_false_and_needs_the_node(cluster: LocalCluster) -> None:
    client, writer = cluster.client(), cluster.client()
    with pytest.raises(NoNode):
        ChildrenWatch(client, "/cw")(lambda children: None)
    writer.create("/cw")
    calls = Calls()
    watcher = ChildrenWatch(client, "/cw")

    @watcher
    def members(children: list[str]) -> bool:
        calls.add(sorted(children))
        return len(children) < 2

    assert calls.snapshot() == [[]]
    writer.create("/cw/a")
    wait_until(lambda: calls.snapshot()[-1] == ["a"], what="the first child")
    writer.create("/cw/b")
    wait_until(lambda: watcher.stopped, what="the function to stop the watch")
    after = probe(client, "/cw/c")
    writer.create("/cw/c")
    wait_until(lambda: after.snapshot()[-1] == b"", what="the probe to see the next child")
    flush(client)
    assert calls.snapshot() == [[], ["a"], ["a", "b"]]


def test_tree_cache_follows_a_subtree_and_tells_its_listeners(cluster: LocalCluster) -> None:
    client, writer = cluster.client(), cluster.client()
    writer.create("/tc", b"root")
    writer.create("/tc/a", b"1")
    writer.create("/tc/a/deep", b"2")
    events = Calls()
    cache = TreeCache(client, "/tc")
    cache.listen(lambda e: events.add((e.type, e.path)))
    cache.start()
    assert events.snapshot() == [("added", "/tc"), ("added", "/tc/a"), ("added", "/tc/a/deep"),
                                 ("initialized", "/tc")]
    assert cache.get_children("/tc") == ["a"] and cache.get_data("/tc/a/deep")[0] == b"2"  # type: ignore[index]
    writer.create("/tc/b", b"new")
    writer.set("/tc/a", b"changed")
    writer.delete("/tc/a/deep")
    wait_until(lambda: cache.get_data("/tc/a/deep") is None, what="the cache to see the deletion")
    assert cache.get_children("/tc") == ["a", "b"] and cache.get_children("/tc/a") == []
    assert cache.get_data("/tc/a")[0] == b"changed" and cache.get_data("/tc/b")[0] == b"new"  # type: ignore[index]
    assert events.snapshot()[4:] == [("added", "/tc/b"), ("updated", "/tc/a"), ("removed", "/tc/a/deep")]
    cache.close()
    after = probe(client, "/tc/c")
    writer.create("/tc/c")
    wait_until(lambda: after.snapshot()[-1] == b"", what="the probe to see the write after close")
    flush(client)
    assert cache.get_data("/tc") is None
    assert len(events.snapshot()) == 7
    assert isinstance(TreeEvent("added", "/x"), TreeEvent)


def test_the_readme_watchers_example_runs_as_written(cluster: LocalCluster, capsys: pytest.CaptureFixture[str]) -> None:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    tag = "<!-- example: sdk-watchers -->\n```python\n"
    assert text.count(tag) == 1
    code = text[text.index(tag) + len(tag):text.index("\n```", text.index(tag) + len(tag))]
    client = cluster.client()
    for path, data in (("/my-app", b""), ("/my-app/config", b"v1"), ("/services", b""), ("/services/web", b"")):
        client.create(path, data)
    exec(compile(code, "README.md", "exec"), {"client": client})
    flush(client)
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["config is now b'v1'", "services: ['web']"]
    assert "cache: added /my-app/config" in out and "cache: initialized /my-app" in out
    assert out[-1].startswith("['config'] (b'v1', {")
