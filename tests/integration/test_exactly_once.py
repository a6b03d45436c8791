"""A write forwarded to a leader that is lost (leader dies, link down) is proposed
again by the node the client talks to, and applied at most once."""

from __future__ import annotations

from skylock.state.applied_tags import AppliedTags
from skylock.state.envelope import decode_snapshot, encode_snapshot
from tests.integration.cluster import LocalCluster


def test_applied_tags_admit_each_proposal_once_and_survive_snapshots() -> None:
    tags = AppliedTags(per_origin=3)
    assert tags.first_time(1, 10) and tags.first_time(2, 10)
    assert not tags.first_time(1, 10)
    for t in (11, 12, 13):
        assert tags.first_time(1, t)
    assert tags.first_time(1, 10)  # forgotten after per_origin newer tags
    data, restored = decode_snapshot(encode_snapshot(b"state", tags))
    assert data == b"state" and restored.to_wire() == tags.to_wire()
    assert not restored.first_time(1, 13)


def test_writes_through_a_follower_survive_a_leader_kill_exactly_once(cluster: LocalCluster) -> None:
    leader = cluster.leader()
    follower = next(n for n in (1, 2, 3) if n != leader)
    # writes_to_leader=False: this is about the forwarding path (a client that sends its writes
    # to the leader itself would send this one to the dead leader, and learn only that its
    # effect is unknown, as with any server that dies under a request)
    client = cluster.client(cluster.address(follower), request_timeout=20, writes_to_leader=False)
    client.create("/counter", "0")
    for i in range(1, 6):
        client.set("/counter", str(i))
    cluster.kill(leader)
    # sent while the leader is dead: the follower holds and re-proposes it to the next leader
    stat = client.set("/counter", "6")
    assert stat["version"] == 6  # one set, one version: not applied twice
    assert client.get("/counter")[0] == b"6"
    cluster.start(leader)
    cluster.wait_converged()
