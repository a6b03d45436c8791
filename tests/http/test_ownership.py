"""Ownership cannot be forged from public data (DESIGN 7a, open mode), on a running cluster.

A stranger reads everything other clients can read about a session that holds a
lock and owns an ephemeral node (lock info, node stats and data under /locks,
children, watch events, cluster status) and tries every string it found as a
session id and as a lock id, through REST and ZeroMQ. Nothing works: the holder
still holds the lock with the same token, its session and ephemeral live on, and
the holder itself still releases with the lock id its acquire returned.
"""

from __future__ import annotations

import re
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from skylock.client.client import Event
from skylock.errors import SkyLockError
from tests.http.rest import Answer, Rest
from tests.integration.cluster import LocalCluster, wait_until

LOCK = "owned"


def strings_in(value: Any) -> Iterator[str]:
    """Every string (and every dot-free part of one) in a decoded JSON body."""
    if isinstance(value, str):
        yield value
        yield from (part for part in re.split(r"[/.]", value) if part)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def refused(answer: Answer) -> bool:
    return answer.status in (400, 403, 404, 410)


def zmq_refused(call: Any) -> bool:
    try:
        call()
    except SkyLockError as err:
        return err.code in ("BadRequest", "NotOwner", "NoNode", "SessionExpired")
    return False


@pytest.fixture
def victim(api: Rest) -> Iterator[dict[str, Any]]:
    """A session (opened over REST) that owns /owned-svc and holds lock ``owned``."""
    opened = api.post("/v1/session", {"client_id": "victim", "ttl_seconds": 60})
    assert opened.status == 201
    secret = opened.body["session_id"]
    created = api.put("/v1/nodes/owned-svc", {"data": "10.0.0.9:80", "ephemeral": True, "session_id": secret})
    assert created.status == 201
    start = int(created.body["stat"]["czxid"]) - 1  # watch events from here show the victim's doings
    grant = api.post(f"/v1/locks/{LOCK}", {"owner": "victim-job", "session_id": secret, "timeout_ms": 10000})
    assert grant.status == 200
    yield {"secret": secret, "public": opened.body["public_id"], "grant": grant.body, "start": start}
    api.delete(f"/v1/session/{secret}")


def public_view(api: Rest, start_zxid: int) -> list[Any]:
    """All that a stranger can read about the victim."""
    info = api.get(f"/v1/locks/{LOCK}").body
    entry = info["holder"].get("entry") or info["holder"].get("lock_id")  # whatever lock info names it
    views = [
        info,
        api.get("/v1/nodes/owned-svc").body,
        api.get(f"/v1/nodes/locks/{LOCK}/{entry}").body,
        api.get(f"/v1/children/locks/{LOCK}").body,
        api.get("/v1/children/").body,
        api.get("/v1/cluster/status").body,
        api.get(f"/v1/watch/?kind=recursive&from_zxid={start_zxid}&timeout=5").body,
    ]
    return views


def test_a_stranger_cannot_act_as_the_session_or_release_its_lock(
    api: Rest, cluster: LocalCluster, victim: dict[str, Any]
) -> None:
    secret, grant = victim["secret"], victim["grant"]
    views = public_view(api, victim["start"])
    candidates = sorted({s for s in strings_in(views) if re.fullmatch(r"[A-Za-z0-9_.:-]{1,128}", s)})
    assert "lock-0000000000" in candidates

    stranger = cluster.client()  # ZeroMQ, no session of its own
    for c in candidates:
        assert refused(api.delete(f"/v1/locks/{LOCK}", {"lock_id": c})), c
        assert refused(api.delete(f"/v1/locks/{LOCK}", {"lock_id": c, "session_id": victim["public"]})), c
        assert zmq_refused(lambda: stranger.call("lock.release", name=LOCK, session_id=c, lock_id=c)), c
        assert zmq_refused(lambda: stranger.call("lock.release", name=LOCK, session_id=c,
                                                 lock_id=grant["lock_id"].split(".")[0])), c
        quoted = urllib.parse.quote(c, safe="")
        assert refused(api.post(f"/v1/session/{quoted}/heartbeat")), c
        assert zmq_refused(lambda: stranger.call("session.heartbeat", session_id=c)), c
        assert refused(api.put("/v1/nodes/planted", {"data": "x", "ephemeral": True, "session_id": c})), c
        assert refused(api.post(f"/v1/locks/{LOCK}-2", {"session_id": c, "timeout_ms": 100})), c
        assert zmq_refused(lambda: stranger.call("session.close", session_id=c)), c
        assert refused(api.delete(f"/v1/session/{quoted}")), c

    seen = repr(views)
    assert secret not in seen and grant["lock_id"] not in seen
    assert victim["public"] in seen and grant["lock_id"].split(".")[0] in seen  # what others see instead
    # the holder still holds, with the same token; its session and ephemeral live on
    holder = api.get(f"/v1/locks/{LOCK}").body["holder"]
    assert (holder["session"], holder["token"]) == (victim["public"], grant["token"])
    assert api.get("/v1/nodes/owned-svc").status == 200
    assert api.get("/v1/nodes/planted").status == 404
    assert api.post(f"/v1/session/{secret}/heartbeat").status == 200
    # and the holder releases with the seed's shape: the lock id alone
    released = api.delete(f"/v1/locks/{LOCK}", {"lock_id": grant["lock_id"]})
    assert released.status == 200 and api.get(f"/v1/locks/{LOCK}").body["holder"] is None


def test_public_and_malformed_session_ids_get_their_errors(api: Rest, victim: dict[str, Any]) -> None:
    public = victim["public"]
    assert api.post(f"/v1/session/{public}/heartbeat").status == 410
    assert api.delete(f"/v1/session/{public}").status == 410
    assert api.put("/v1/nodes/planted2", {"ephemeral": True, "session_id": public}).status == 410
    for bad in ["has%20space", "x" * 200]:
        assert api.post(f"/v1/session/{bad}/heartbeat").error_code == "BadRequest"
        assert api.delete(f"/v1/session/{bad}").error_code == "BadRequest"
    assert api.post(f"/v1/session/{victim['secret']}/heartbeat").status == 200


def test_zeromq_release_needs_the_lock_id_the_acquire_returned(cluster: LocalCluster) -> None:
    holder = cluster.client()
    holder.start_session("zmq-holder", ttl=30)
    grant = holder.lock_acquire("owned-zmq", owner="h")
    entry = grant["lock_id"].split(".")[0]
    assert zmq_refused(lambda: holder.call("lock.release", name="owned-zmq", session_id=holder.session_id,
                                           lock_id=entry))  # even its own session needs the full id
    assert holder.lock_info("owned-zmq")["holder"]["token"] == grant["token"]
    assert holder.lock_release("owned-zmq", grant["lock_id"])["released"] == grant["lock_id"]


def test_session_closed_events_carry_the_public_id(cluster: LocalCluster) -> None:
    client = cluster.client()
    secret = client.start_session("closing", ttl=30)
    client.create("/closing-eph", b"", ephemeral=True)
    public = cluster.client().exists("/closing-eph")["ephemeral_owner"]
    assert public and public != secret
    events: list[Event] = []
    got = threading.Event()

    def on_event(event: Event) -> None:
        events.append(event)
        if event.type == "session_closed":
            got.set()

    client.create("/closing-watched", b"")
    client.watch("/closing-watched", on_event, kind="data")  # ends with the session
    client.call("session.close", session_id=secret)
    wait_until(got.is_set, what="the session_closed event")
    assert [e.session_id for e in events if e.type == "session_closed"] == [public]
