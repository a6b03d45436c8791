"""The `skylock` command line against a real cluster: in-process through click's
CliRunner, and as real subprocesses configured by SKYLOCK_SERVERS."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import click
import pytest
from click.testing import CliRunner, Result

from skylock.cli import ancestors, main
from tests.integration.cluster import LocalCluster, wait_until


def cli(cluster: LocalCluster, *args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, ["--servers", ",".join(cluster.servers), *args])
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


def cli_json(cluster: LocalCluster, *args: str) -> Any:
    return json.loads(cli(cluster, "--json", *args).stdout)


def run(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skylock.cli", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "SKYLOCK_SERVERS": ",".join(cluster.servers)})


def _commands(group: click.Group = main, prefix: list[str] | None = None) -> list[list[str]]:
    """Every command's words, groups included: [["status"], ["session"], ["session", "create"], ...]."""
    found = []
    for name, command in group.commands.items():
        words = [*(prefix or []), name]
        found.append(words)
        if isinstance(command, click.Group):
            found += _commands(command, words)
    return found


def _command(words: list[str]) -> click.Command:
    command: click.Command = main
    for word in words:
        assert isinstance(command, click.Group)
        command = command.commands[word]
    return command


def test_every_command_has_an_example_in_its_help() -> None:
    commands = _commands()
    assert len(commands) >= 16
    for words in commands:
        result = CliRunner().invoke(main, [*words, "--help"])
        assert result.exit_code == 0 and "Example: skylock" in result.output, words


def test_sessions_and_ephemeral_nodes(cluster: LocalCluster) -> None:
    opened = cli_json(cluster, "session", "create", "cli-test", "--ttl", "30")
    sid = opened["session_id"]
    assert opened["ttl_ms"] == 30000
    human = cli(cluster, "session", "create", "human", "--ttl", "1")
    assert len(human.stdout.strip()) == 32  # the id alone on stdout; how to renew on stderr
    assert f"renew with: skylock session heartbeat {human.stdout.strip()}" in human.stderr
    cli(cluster, "create", "/cli-svc")
    assert cli(cluster, "create", "/cli-svc/web-", "10.0.0.5:80", "--ephemeral", "--session", sid,
               "--sequential").output.strip() == "/cli-svc/web-0000000000"
    assert "session" in cli(cluster, "session", "heartbeat", sid).output
    assert cli(cluster, "children", "/cli-svc").output.split() == ["web-0000000000"]
    got = cli_json(cluster, "get", "/cli-svc/web-0000000000")
    assert got["data"] == "10.0.0.5:80" and got["stat"]["ephemeral_owner"] == opened["public_id"] != sid
    cli(cluster, "session", "close", sid)
    assert cli_json(cluster, "children", "/cli-svc")["children"] == []
    gone = cli(cluster, "session", "heartbeat", sid, ok=False)
    assert gone.exit_code == 1 and gone.output.startswith("Error: SessionExpired: ")


def test_node_commands_and_one_line_errors(cluster: LocalCluster) -> None:
    assert cli(cluster, "create", "/cli-node", "v1").output.strip() == "/cli-node"
    assert cli(cluster, "get", "/cli-node").stdout.strip() == "v1"
    assert cli(cluster, "get", "/cli-node", "--local").stdout.strip() == "v1"
    assert "version 1" in cli(cluster, "set", "/cli-node", "v2", "--version", "0").output
    stale = cli(cluster, "set", "/cli-node", "v3", "--version", "0", ok=False)
    assert stale.exit_code == 1 and stale.output.startswith("Error: BadVersion: ")
    assert len(stale.output.strip().splitlines()) == 1
    exists = cli(cluster, "create", "/cli-node", ok=False)
    assert exists.output.startswith("Error: NodeExists: ")
    cli(cluster, "delete", "/cli-node", "--version", "1")
    missing = cli(cluster, "get", "/cli-node", ok=False)
    assert missing.exit_code == 1 and missing.output.startswith("Error: NoNode: ")
    usage = cli(cluster, "create", "/cli-eph", "--ephemeral", ok=False)
    assert usage.exit_code == 2 and "--session" in usage.output


def test_session_without_ephemeral_is_refused(cluster: LocalCluster) -> None:
    """It used to create a persistent node and ignore the (possibly unknown) session."""
    sid = cli_json(cluster, "session", "create", "not-ephemeral")["session_id"]
    for session in (sid, "deadbeef" * 4):
        refused = run(cluster, "create", "/cli-not-eph", "--session", session)
        assert refused.returncode == 2, refused
        assert "Error: --session names the owner of an --ephemeral node" in refused.stderr
    assert cli(cluster, "get", "/cli-not-eph", ok=False).output.startswith("Error: NoNode: ")


def test_create_makes_missing_parents_unless_no_parents(cluster: LocalCluster) -> None:
    assert run(cluster, "create", "/cli-p/a/b", "some data").stdout.strip() == "/cli-p/a/b"
    assert cli(cluster, "get", "/cli-p/a").stdout == "\n"  # an empty persistent parent
    assert cli_json(cluster, "get", "/cli-p/a")["stat"]["ephemeral_owner"] in (None, "", 0)
    sid = cli_json(cluster, "session", "create", "parents")["session_id"]
    assert cli(cluster, "create", "/cli-p/svc/web-", "x", "--ephemeral", "--session", sid,
               "--sequential").stdout.strip() == "/cli-p/svc/web-0000000000"
    strict = run(cluster, "create", "/cli-q/x", "--no-parents")
    assert strict.returncode == 1 and strict.stderr.startswith("Error: NoNode: ")
    assert cli(cluster, "get", "/cli-q", ok=False).output.startswith("Error: NoNode: ")
    exists = cli(cluster, "create", "/cli-p/a/b", ok=False)
    assert exists.output.startswith("Error: NodeExists: ")
    bad = cli(cluster, "create", "/cli-p//x", ok=False)
    assert bad.output.startswith("Error: BadPath: ")
    cli(cluster, "session", "close", sid)


def test_ancestors_outermost_first() -> None:
    assert ancestors("/a/b/c") == ["/a", "/a/b"]
    assert ancestors("/a") == [] and ancestors("/") == []


def test_session_id_is_captured_alone_and_a_malformed_one_is_called_malformed(cluster: LocalCluster) -> None:
    skylock = f"{shlex.quote(sys.executable)} -m skylock.cli"
    script = f'S=$({skylock} session create scripted --ttl 5) && {skylock} session heartbeat "$S"'
    captured = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "SKYLOCK_SERVERS": ",".join(cluster.servers)})
    assert captured.returncode == 0, captured.stderr
    assert re.fullmatch(r"session [0-9a-f]{32} renewed\n", captured.stdout), captured.stdout
    assert "renew with: skylock session heartbeat" in captured.stderr
    prose = "71a9c0ffee  (ttl 5s; renew with: skylock session heartbeat 71a9c0ffee)"
    for argv in (["session", "heartbeat", prose], ["session", "close", "71a9"],
                 ["lock", "some-lock", "not-a-session"], ["unlock", "some-lock", "lock-0000000000", "--session", "x"],
                 ["create", "/cli-eph2", "--ephemeral", "--session", "71A9" * 8]):
        malformed = run(cluster, *argv)
        assert malformed.returncode == 1, (argv, malformed)
        assert malformed.stderr.startswith("Error: BadRequest: malformed session id "), (argv, malformed.stderr)
        assert len(malformed.stderr.strip().splitlines()) == 1


def test_status_without_a_leader_says_so(tmp_path: Path) -> None:
    """One node of three up: no majority, no leader; it used to print ``leader: node 0``."""
    lone = LocalCluster(tmp_path)
    try:
        lone.start(1)
        wait_until(lambda: lone.node_client(1).status()["nodes"], what="node 1 to answer")
        shown = run(lone, "--servers", lone.address(1), "status")
        assert shown.returncode == 0, shown.stderr
        first = shown.stdout.splitlines()[0]
        assert first.startswith("leader: none  term "), shown.stdout
        assert "node 0" not in shown.stdout
    finally:
        lone.close()


def test_global_options_after_the_command(cluster: LocalCluster) -> None:
    """``skylock status --servers ...`` used to be "No such option"; after the command wins."""
    servers = ",".join(cluster.servers)
    wrong = {**os.environ, "SKYLOCK_SERVERS": "127.0.0.1:9"}  # nothing listens: only --servers can work
    status = subprocess.run([sys.executable, "-m", "skylock.cli", "status", "--servers", servers, "--json",
                             "--timeout", "20"], capture_output=True, text=True, timeout=60, env=wrong)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["leader"] > 0
    opened = cli(cluster, "session", "create", "after", "--json")
    sid = json.loads(opened.stdout)["session_id"]
    assert cli(cluster, "lock", "after-lock", sid, "--json", "--timeout", "5").stdout.startswith("{")
    before = CliRunner().invoke(main, ["--servers", "127.0.0.1:9", "--timeout", "0.5", "leader",
                                       "--servers", servers, "--timeout", "10"])
    assert before.exit_code == 0 and before.output.startswith("node "), before.output
    for words in _commands():
        if words == ["serve"] or isinstance(_command(words), click.Group):  # serve talks to no cluster
            continue
        text = CliRunner().invoke(main, [*words, "--help"]).output
        assert "--servers" in text and "--json" in text and "--timeout" in text, words


def test_lock_lockinfo_unlock(cluster: LocalCluster) -> None:
    opened_a = cli_json(cluster, "session", "create", "locker-a")
    a = opened_a["session_id"]
    b = cli_json(cluster, "session", "create", "locker-b")["session_id"]
    assert "free" in cli(cluster, "lockinfo", "cli-lock").output
    acquired = cli(cluster, "lock", "cli-lock", a, "--owner", "job-a")
    lock_id = acquired.stdout.strip()  # alone on stdout, so L=$(skylock lock ...) keeps it
    assert lock_id.startswith("lock-") and "\n" not in lock_id
    assert "acquired cli-lock: fencing token " in acquired.stderr
    info = cli_json(cluster, "lockinfo", "cli-lock")
    entry, token = info["holder"]["entry"], info["holder"]["token"]
    assert lock_id.startswith(entry + ".") and lock_id not in str(info)
    assert info["holder"]["owner"] == "job-a" and info["holder"]["session"] == opened_a["public_id"]
    assert f"holder: {entry}  token {token}  session {opened_a['public_id']}" in cli(cluster, "lockinfo", "cli-lock").output
    busy = cli(cluster, "lock", "cli-lock", b, "--timeout", "0.5", ok=False)
    assert busy.exit_code == 1 and busy.output.startswith("Error: Timeout: ")
    refused = cli(cluster, "unlock", "cli-lock", lock_id, "--session", b, ok=False)
    assert refused.output.startswith("Error: NotOwner: ")
    shown = cli(cluster, "unlock", "cli-lock", entry, ok=False)  # what lockinfo shows is not enough
    assert shown.output.startswith("Error: NotOwner: ")
    assert cli(cluster, "unlock", "cli-lock", lock_id).output.startswith(f"released {lock_id}")
    assert cli(cluster, "unlock", "cli-lock", lock_id, ok=False).output.startswith("Error: NoNode: ")
    second = cli_json(cluster, "lock", "cli-lock", b)
    assert second["session_id"] == b and second["token"] > token


def test_commands_as_subprocesses_with_skylock_servers(cluster: LocalCluster) -> None:
    opened = run(cluster, "--json", "session", "create", "proc")
    assert opened.returncode == 0, opened.stderr
    sid = json.loads(opened.stdout)["session_id"]
    assert run(cluster, "create", "/cli-proc", "hello").stdout.strip() == "/cli-proc"
    assert json.loads(run(cluster, "--json", "get", "/cli-proc").stdout)["data"] == "hello"
    locked = run(cluster, "--json", "lock", "proc-lock", sid)
    assert locked.returncode == 0, locked.stderr
    lock_id = json.loads(locked.stdout)["lock_id"]
    assert run(cluster, "unlock", "proc-lock", lock_id).stdout.startswith(f"released {lock_id}")
    failed = run(cluster, "delete", "/no-such-node")
    assert failed.returncode == 1 and failed.stderr.strip().startswith("Error: NoNode: ")
    assert "leader: node" in run(cluster, "status").stdout
    assert run(cluster, "session", "close", sid).returncode == 0


def _ctrl_c_as_in_a_terminal() -> None:
    """In the child: SIGINT as a shell's foreground command gets it. A test run started in the
    background (``pytest &``) ignores SIGINT, its children inherit that, and Python then installs
    no KeyboardInterrupt handler: the watch would never see the Ctrl-C the test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Streamed:
    """A `skylock watch` subprocess whose output lines are read by threads, so a test can wait on them."""

    def __init__(self, cluster: LocalCluster, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "skylock.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env={**os.environ, "SKYLOCK_SERVERS": ",".join(cluster.servers), "PYTHONUNBUFFERED": "1"},
            preexec_fn=_ctrl_c_as_in_a_terminal,
        )
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _pump(stream: IO[str] | None, lines: queue.Queue[str]) -> None:
        assert stream is not None
        for line in stream:
            lines.put(line.rstrip("\n"))

    def line(self, lines: queue.Queue[str], timeout: float = 10.0) -> str:
        try:
            return lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail("no line from `skylock watch` in time")

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def test_watch_streams_json_events_until_ctrl_c(cluster: LocalCluster) -> None:
    client = cluster.client()
    client.create("/cli-watched")
    watch = Streamed(cluster, "--json", "watch", "/cli-watched")
    try:
        assert watch.line(watch.err).startswith("watching /cli-watched (recursive)")
        client.create("/cli-watched/a", b"1")
        client.set("/cli-watched/a", b"2")
        first, second = json.loads(watch.line(watch.out)), json.loads(watch.line(watch.out))
        assert (first["type"], first["path"]) == ("created", "/cli-watched/a")
        assert (second["type"], second["path"]) == ("data_changed", "/cli-watched/a")
        assert second["zxid"] > first["zxid"]
        assert watch.interrupt() == 0
    finally:
        watch.stop()


def test_one_shot_watch_is_armed_again_and_resumes_from_zxid(cluster: LocalCluster) -> None:
    client = cluster.client()
    client.create("/cli-data", b"0")
    start = int(client.exists("/cli-data")["mzxid"])  # type: ignore[index]
    client.set("/cli-data", b"1")  # before the watch starts: replayed from --from-zxid
    watch = Streamed(cluster, "watch", "/cli-data", "--kind", "data", "--from-zxid", str(start))
    try:
        wait_until(lambda: not watch.err.empty(), what="the watch to start")
        client.set("/cli-data", b"2")
        lines = [watch.line(watch.out) for _ in range(2)]
        assert all("data_changed" in line and "/cli-data" in line for line in lines), lines
        zxids = [int(line.split()[0]) for line in lines]
        assert zxids == sorted(set(zxids))
        assert watch.interrupt() == 0
    finally:
        watch.stop()


def test_auth_commands_manage_users_and_roles_of_a_secure_cluster(tmp_path: Path) -> None:
    from hashlib import sha256

    from tests.integration.cluster import running_cluster

    root_token = "cli-root-token-0123456789"
    sections = {"auth": {"enabled": True, "root_token_sha256": sha256(root_token.encode()).hexdigest()}}
    with running_cluster(tmp_path, sections=sections, token=root_token) as secure:
        def as_(token: str | None, *args: str, ok: bool = True) -> Result:
            env = {"SKYLOCK_TOKEN": token} if token else {}
            result = CliRunner(env=env).invoke(main, ["--servers", ",".join(secure.servers), *args])
            if ok:
                assert result.exit_code == 0, (result.output, result.exception)
            return result

        refused = as_(None, "get", "/", ok=False)
        assert refused.exit_code == 1 and refused.output.startswith("Error: Unauthenticated: ")
        assert as_(root_token, "auth", "whoami").stdout == "root\n  admin  /\n"
        as_(root_token, "auth", "role", "add", "app-reader")
        as_(root_token, "auth", "role", "grant", "app-reader", "read", "/app")
        token = as_(root_token, "auth", "user", "add", "alice").stdout.strip()
        assert len(token) >= 32 and "\n" not in token  # alone on stdout: T=$(skylock auth user add ...)
        chosen = as_(root_token, "auth", "user", "add", "bob", "--token", "bob-token-0123456789").stdout
        assert chosen.strip() == "bob-token-0123456789"
        as_(root_token, "auth", "user", "grant-role", "alice", "app-reader")
        assert "alice                    app-reader" in as_(root_token, "auth", "user", "list").stdout
        assert "  read   /app" in as_(root_token, "auth", "role", "list").stdout
        as_(root_token, "create", "/app/x", "1")
        assert as_(token, "get", "/app/x").exit_code == 0
        assert as_(None, "--token", token, "auth", "whoami").stdout.startswith("alice\n  read   /app")
        assert as_(None, "auth", "whoami", "--token", token).stdout.startswith("alice")  # after the command too
        denied = as_(token, "set", "/app/x", "2", ok=False)
        assert denied.output.startswith("Error: PermissionDenied: ")
        assert as_(token, "auth", "user", "list", ok=False).output.startswith("Error: PermissionDenied: ")
        as_(root_token, "auth", "user", "revoke-role", "alice", "app-reader")
        as_(root_token, "auth", "role", "revoke", "app-reader", "read", "/app")
        as_(root_token, "auth", "role", "delete", "app-reader")
        as_(root_token, "auth", "user", "delete", "alice")
        assert as_(token, "auth", "whoami", ok=False).output.startswith("Error: Unauthenticated: ")


def test_lock_with_a_lock_delay(cluster: LocalCluster) -> None:
    sid = cli_json(cluster, "session", "create", "delayed")["session_id"]
    refused = cli(cluster, "lock", "cli-delay", sid, "--lock-delay", "61", ok=False)
    assert refused.output.startswith("Error: BadRequest: lock_delay_ms must be from 0 to 60000")
    assert cli_json(cluster, "lock", "cli-delay", sid, "--lock-delay", "2")["session_id"] == sid
