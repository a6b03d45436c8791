"""One op table (``codec.OPS``): the gateway routes by it, the Store serves its reads, the
client retries by it, and the state machine's commands carry the client's op names."""

from __future__ import annotations

from typing import Any

from skylock.actors.gateway import Gateway
from skylock.actors.store import Store
from skylock.client.failover import IDEMPOTENT as CLIENT_IDEMPOTENT
from skylock.net.codec import IDEMPOTENT, OPS, ROUTES
from skylock.state import StateMachine, commands


class _Nothing:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} used while building")


def test_every_op_has_a_route_the_gateway_has_a_handler_for() -> None:
    assert {spec.route for spec in OPS.values()} <= set(ROUTES)
    gateway = Gateway(1, raft=_Nothing(), store=_Nothing(), sessions=_Nothing(), watches=_Nothing(),  # type: ignore[arg-type]
                      outbox=_Nothing(), max_request_size=1, max_data_size=1,  # type: ignore[arg-type]
                      default_ttl=1, min_ttl=1, max_ttl=1, request_timeout=1)
    assert set(gateway._routes) == set(ROUTES) - {"auth"}  # auth goes through _auth (the principal)


def test_the_store_serves_every_op_routed_to_it() -> None:
    store = Store(1, StateMachine(), 0, _Nothing(), 100, 1 << 20)  # type: ignore[arg-type]
    served = {op for op, spec in OPS.items() if spec.route in ("read", "store", "leader_read")}
    assert served <= set(store._reads)


def test_writes_are_state_machine_commands_of_the_same_name() -> None:
    writes = {op for op, spec in OPS.items() if spec.route in ("write", "lock")}
    assert writes <= commands.TOP_LEVEL_OPS  # "set" is "set", not set_data; "session.open" likewise
    assert {"set", "session.open", "session.close", "session.expire", "lock.acquire", "lock.release"} <= \
        commands.TOP_LEVEL_OPS


def test_the_client_retries_exactly_what_the_table_calls_idempotent() -> None:
    assert CLIENT_IDEMPOTENT == IDEMPOTENT
    assert {"get", "exists", "children", "lock.info", "session.heartbeat", "watch.add"} <= IDEMPOTENT
    assert not {"create", "set", "delete", "multi", "lock.acquire", "lock.release", "session.open"} & IDEMPOTENT
