"""End-to-end sanity of the core through the application loop."""

from tests.raft.cluster import Cluster


def test_three_nodes_elect_replicate_and_read() -> None:
    c = Cluster(3)
    c.elect(1)
    c.nodes[1].propose_many([b"a", b"b"])
    c.nodes[2].propose(b"forwarded")
    c.stabilize()
    for i in (1, 2, 3):
        assert [e.data for e in c.applied[i] if e.data] == [b"a", b"b", b"forwarded"]
    c.nodes[3].read_index(b"r")
    c.stabilize()
    assert [(rs.index, rs.context) for rs in c.read_states[3]] == [(4, b"r")]
