"""Transcript tests: a text file of commands, each followed by the output it must produce.

File format (one block per command, blocks separated by a blank line)::

    # a comment, kept on rewrite
    campaign 1
    ----
    <expected output, no blank lines>

Commands: add-nodes N [pre_vote=0] [check_quorum=0] [max_inflight=N] [max_size=N]
[election=N]; campaign ID; tick ID [N]; tick-all [N]; process-ready [ID...]; deliver [ID...];
drop [ID...]; stabilize; partition 1 | 2 3; heal; propose ID DATA; propose-many ID N SIZE;
read-index ID CTX; transfer-leader ID TARGET; compact ID INDEX; report-snapshot ID PEER ok|fail;
report-unreachable ID PEER; status ID; log ID; raft-state.

``run_file(path, rewrite=True)`` re-records the expected output (``SKYLOCK_REWRITE=1``).
"""

from __future__ import annotations

from pathlib import Path

from skylock.raft import Entry, EntryType, Message, ProposalDropped, Ready
from tests.raft.cluster import Cluster

_MSG_FIELDS = ("term", "log_term", "index", "commit", "reject_hint")


def fmt_entry(e: Entry) -> str:
    s = f"{e.term}/{e.index}"
    if e.type == EntryType.CONF:
        s += " CONF"
    if e.data:
        s += f" {e.data.decode(errors='replace')!r}" if len(e.data) <= 16 else f" <{len(e.data)}B>"
    return s


def fmt_entries(ents) -> str:
    return "[" + ", ".join(fmt_entry(e) for e in ents) + "]"


def fmt_msg(m: Message) -> str:
    parts = [f"{m.frm}->{m.to} {m.type.name}"]
    for f in _MSG_FIELDS:
        v = getattr(m, f)
        if v or f == "term":
            parts.append(f"{f}={v}")
    if m.reject:
        parts.append("REJECT")
    if m.entries:
        parts.append("entries=" + fmt_entries(m.entries))
    if m.snapshot is not None:
        parts.append(f"snapshot={m.snapshot.meta.term}/{m.snapshot.meta.index}")
    if m.context:
        parts.append(f"ctx={m.context.decode(errors='replace')!r}")
    return " ".join(parts)


def fmt_ready(i: int, rd: Ready) -> list[str]:
    out = [f"Ready {i}:"]
    if rd.soft_state:
        out.append(f"  soft: leader={rd.soft_state.leader} role={rd.soft_state.role.name}")
    if rd.hard_state:
        hs = rd.hard_state
        out.append(f"  hard: term={hs.term} vote={hs.vote} commit={hs.commit}")
    if rd.snapshot:
        out.append(f"  snapshot: {rd.snapshot.meta.term}/{rd.snapshot.meta.index} "
                   f"voters={list(rd.snapshot.meta.conf.voters)}")
    if rd.entries:
        out.append("  entries: " + fmt_entries(rd.entries))
    if rd.committed_entries:
        out.append("  committed: " + fmt_entries(rd.committed_entries))
    for rs in rd.read_states:
        out.append(f"  read_state: index={rs.index} ctx={rs.context.decode(errors='replace')!r}")
    for m in rd.messages:
        out.append("  send " + fmt_msg(m))
    return out


class Interpreter:
    def __init__(self) -> None:
        self.c: Cluster | None = None
        self.out: list[str] = []

    def run(self, line: str) -> list[str]:
        self.out = []
        name, *args = line.split()
        getattr(self, "cmd_" + name.replace("-", "_"))(*args)
        return self.out or ["ok"]

    @property
    def cluster(self) -> Cluster:
        assert self.c is not None, "add-nodes first"
        return self.c

    def _hooks(self) -> None:
        c = self.cluster
        c.on_ready = lambda i, rd: self.out.extend(fmt_ready(i, rd))
        c.on_deliver = lambda m, ok: self.out.append(("deliver " if ok else "DROP ") + fmt_msg(m))

    def cmd_add_nodes(self, n: str, *opts: str) -> None:
        names = {"pre_vote": "pre_vote", "check_quorum": "check_quorum",
                 "max_inflight": "max_inflight_msgs", "max_size": "max_size_per_msg",
                 "election": "election_tick"}
        kw = {}
        for o in opts:
            k, v = o.split("=")
            kw[names[k]] = bool(int(v)) if k in ("pre_vote", "check_quorum") else int(v)
        self.c = Cluster(int(n), **kw)
        self._hooks()

    def cmd_campaign(self, i: str) -> None:
        self.cluster.nodes[int(i)].campaign()

    def cmd_tick(self, i: str, n: str = "1") -> None:
        self.cluster.tick(int(i), int(n))

    def cmd_tick_all(self, n: str = "1") -> None:
        for _ in range(int(n)):
            for i in self.cluster.nodes:
                self.cluster.tick(i)

    def cmd_process_ready(self, *ids: str) -> None:
        self.cluster.process_ready(*map(int, ids))

    def cmd_deliver(self, *ids: str) -> None:
        self.cluster.deliver(*map(int, ids))

    def cmd_drop(self, *ids: str) -> None:
        c = self.cluster
        dropped = [m for m in c.queue if not ids or m.to in map(int, ids)]
        c.queue = [m for m in c.queue if m not in dropped]
        self.out.extend("DROP " + fmt_msg(m) for m in dropped)

    def cmd_stabilize(self) -> None:
        self.cluster.stabilize()

    def cmd_partition(self, *spec: str) -> None:
        groups = " ".join(spec).split("|")
        self.cluster.partition(*({int(x) for x in g.split()} for g in groups))

    def cmd_heal(self) -> None:
        self.cluster.heal()

    def cmd_propose(self, i: str, data: str) -> None:
        try:
            self.cluster.nodes[int(i)].propose(data.encode())
        except ProposalDropped as e:
            self.out.append(f"ProposalDropped: {e}")

    def cmd_propose_many(self, i: str, n: str, size: str) -> None:
        self.cluster.nodes[int(i)].propose_many([bytes(int(size))] * int(n))

    def cmd_read_index(self, i: str, ctx: str) -> None:
        self.cluster.nodes[int(i)].read_index(ctx.encode())

    def cmd_transfer_leader(self, i: str, target: str) -> None:
        self.cluster.nodes[int(i)].transfer_leadership(int(target))

    def cmd_compact(self, i: str, index: str) -> None:
        self.cluster.compact(int(i), int(index))

    def cmd_report_snapshot(self, i: str, peer: str, ok: str) -> None:
        self.cluster.nodes[int(i)].report_snapshot(int(peer), ok == "ok")

    def cmd_report_unreachable(self, i: str, peer: str) -> None:
        self.cluster.nodes[int(i)].report_unreachable(int(peer))

    def cmd_status(self, i: str) -> None:
        s = self.cluster.nodes[int(i)].status()
        self.out.append(f"{s.id}: {s.role.name} term={s.term} vote={s.vote} leader={s.leader} "
                        f"commit={s.commit} applied={s.applied} last={s.last_index}")
        for peer, p in sorted(s.progress.items()):
            self.out.append(f"  {peer}: {p.state.name} match={p.match} next={p.next}")

    def cmd_log(self, i: str) -> None:
        st = self.cluster.storages[int(i)]
        snap = st.snapshot().meta
        self.out.append(f"snapshot={snap.term}/{snap.index} first={st.first_index()} "
                        f"last={st.last_index()}")
        ents = st.entries(st.first_index(), st.last_index() + 1)
        if ents:
            self.out.append(fmt_entries(ents))

    def cmd_raft_state(self) -> None:
        for i, n in self.cluster.nodes.items():
            r = n.raft
            self.out.append(f"{i}: {r.role.name} term={r.term} leader={r.leader} "
                            f"commit={r.log.committed}")


def parse(text: str) -> list[tuple[list[str], str, list[str]]]:
    """Blocks of (comment lines, command, expected output lines)."""
    blocks, comments = [], []
    lines = text.splitlines()
    k = 0
    while k < len(lines):
        line = lines[k]
        k += 1
        if not line.strip():
            continue
        if line.startswith("#"):
            comments.append(line)
            continue
        if k >= len(lines) or lines[k] != "----":
            raise ValueError(f"line {k}: expected '----' after command {line!r}")
        k += 1
        expected = []
        while k < len(lines) and lines[k].strip():
            expected.append(lines[k])
            k += 1
        blocks.append((comments, line, expected))
        comments = []
    return blocks


def run_file(path: Path, rewrite: bool = False) -> list[str]:
    """Run a transcript; returns mismatch descriptions (or rewrites the file)."""
    interp = Interpreter()
    problems, chunks = [], []
    for comments, cmd, expected in parse(path.read_text()):
        got = interp.run(cmd)
        if got != expected:
            problems.append(f"{path.name}: {cmd}\n--- expected\n" + "\n".join(expected)
                            + "\n--- got\n" + "\n".join(got))
        chunks.append("\n".join([*comments, cmd, "----", *got]))
    if rewrite:
        path.write_text("\n\n".join(chunks) + "\n")
        return []
    return problems
