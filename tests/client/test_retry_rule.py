"""The client's one retry rule (skylock.client.retry), decision by decision."""

from __future__ import annotations

from skylock.client.retry import GIVE_UP, RETRY_LATER, RETRY_NOW, after_failure
from skylock.errors import ConnectionLost, NoLeader, NoNode, Timeout


def decide(err, *, idempotent=False, closed=False, now=0.0, deadline=10.0, backoff=0.1, no_leader=None):
    return after_failure(err, idempotent=idempotent, closed=closed, now=now, deadline=deadline, backoff=backoff,
                         no_leader=no_leader, several_servers=True)


def test_a_request_never_sent_goes_to_the_next_server_at_once_whatever_its_op() -> None:
    verdict = decide(ConnectionLost("down", sent=False))
    assert verdict.action == RETRY_NOW and verdict.drop_connection


def test_a_write_that_may_have_applied_is_never_sent_again() -> None:
    lost = ConnectionLost("went away", sent=True)
    assert decide(lost).action == GIVE_UP and decide(lost).error is lost
    timeout = Timeout("slow")
    assert decide(timeout).action == GIVE_UP and decide(timeout).error is timeout
    assert decide(lost, idempotent=True).action == RETRY_LATER
    assert decide(timeout, idempotent=True).action == RETRY_LATER


def test_no_leader_is_retried_elsewhere_until_the_deadline_then_reported() -> None:
    err = NoLeader("election")
    verdict = decide(err, no_leader=err)
    assert verdict.action == RETRY_LATER and verdict.drop_connection
    assert decide(err, now=9.95, no_leader=err).error is err
    late = decide(ConnectionLost("down", sent=False), now=10.0, no_leader=err)
    assert late.action == GIVE_UP and late.error is err  # nothing sent since could have applied


def test_other_errors_and_a_closed_client_give_up() -> None:
    assert decide(NoNode("x")).action == GIVE_UP
    assert decide(ConnectionLost("closed", sent=False), closed=True).action == GIVE_UP
