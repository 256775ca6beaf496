"""``make demo`` (scripts/demo.sh): a taken port fails first and says what to change; a child
that stops later is named, and nothing is left running."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.net import free_port

# `make demo`'s script on its own SQLite under a temporary var dir: the same on both passes.
pytestmark = pytest.mark.own_database

ROOT = Path(__file__).resolve().parents[2]
BANNER = "lastmile demo is running"


@contextmanager
def port_held() -> Iterator[int]:
    """A port someone else is listening on, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s.getsockname()[1]


def session_members(sid: int) -> list[tuple[int, str]]:
    """Processes still in the script's session (pid, command line): the script (started in a
    session of its own) and its children, each of which leads a process group of its own."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append((int(entry.name), cmdline))
    return found


def kill_all(sid: int) -> None:
    """SIGKILL to every process of the script's session (a failed test leaves nothing)."""
    for pid, _ in session_members(sid):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def demo_env(tmp_path: Path, **ports: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LASTMILE_")}
    env |= {"LASTMILE_VAR_DIR": str(tmp_path / "var"), "LASTMILE_DEMO_CUSTOMERS": "12"}
    env |= {name: str(port) for name, port in ports.items()}
    return env


def run_demo(tmp_path: Path, **ports: int) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        env=demo_env(tmp_path, **ports),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        left = session_members(proc.pid)
        kill_all(proc.pid)
    assert left == []
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_a_taken_smtp_port_fails_before_migrating_and_names_the_variable(tmp_path):
    # given another program listening on the SMTP port
    with port_held() as taken:
        # when the demo starts
        result = run_demo(tmp_path, LASTMILE_PORT=free_port(), LASTMILE_SMTP_PORT=taken)

    # then it stops at once, says what to set, prints no banner and created no database
    assert result.returncode == 1
    assert f"port {taken} is in use: set LASTMILE_SMTP_PORT={taken + 1}" in result.stderr
    assert f"make demo LASTMILE_SMTP_PORT={taken + 1}" in result.stderr
    assert BANNER not in result.stdout
    assert not (tmp_path / "var" / "lastmile.sqlite3").exists()


def test_a_taken_web_port_fails_before_migrating_and_names_the_variable(tmp_path):
    with port_held() as taken:
        result = run_demo(tmp_path, LASTMILE_PORT=taken, LASTMILE_SMTP_PORT=free_port())

    assert result.returncode == 1
    assert f"port {taken} is in use: set LASTMILE_PORT={taken + 1}" in result.stderr
    assert "LASTMILE_SMTP_PORT" not in result.stderr
    assert BANNER not in result.stdout
    assert not (tmp_path / "var" / "lastmile.sqlite3").exists()


def test_the_same_port_for_web_and_smtp_is_refused(tmp_path):
    port = free_port()

    result = run_demo(tmp_path, LASTMILE_PORT=port, LASTMILE_SMTP_PORT=port)

    assert result.returncode == 1
    assert "LASTMILE_PORT and LASTMILE_SMTP_PORT are both" in result.stderr
    assert BANNER not in result.stdout


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@dataclass
class StoppedDemo:
    """One run of the real script from an empty var: migrate, seed, the banner, then smtpd
    killed. ``var`` is what it left (migrated and seeded, every process stopped)."""

    returncode: int
    log: str
    left: list[tuple[int, str]]
    var: Path


@pytest.fixture(scope="module")
def stopped_demo(tmp_path_factory) -> StoppedDemo:
    """The module's one end-to-end run of ``make demo``'s script from scratch (12 customers),
    whose SMTP receiver then dies. The other runs start from a copy of the var it left, so the
    script only checks the schema and the seed before starting its three children."""
    home = tmp_path_factory.mktemp("demo")
    log = home / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "demo.sh")],
            env=demo_env(home, LASTMILE_PORT=free_port(), LASTMILE_SMTP_PORT=free_port()),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(
            lambda: "Press Ctrl-C" in log.read_text() or proc.poll() is not None,
            timeout=600,  # migrating and seeding from scratch, on a loaded machine
            what="the banner",
        )
        assert BANNER in log.read_text(), log.read_text()
        smtpd = [pid for pid, cmd in session_members(proc.pid) if "lastmile smtpd" in cmd]
        assert len(smtpd) == 1

        os.kill(smtpd[0], signal.SIGKILL)
        returncode = proc.wait(timeout=60)
    finally:
        left = session_members(proc.pid)
        kill_all(proc.pid)
    return StoppedDemo(returncode, log.read_text(), left, home / "var")


def test_from_scratch_a_child_that_stops_after_the_banner_is_named_and_the_others_are_stopped(
    stopped_demo,
):
    # given the demo migrated, seeded and up from an empty var
    # when the SMTP receiver dies (SIGKILL, in the fixture)
    # then the script names it and how it stopped, and stops the web server and the worker
    assert "Running migrations:" in stopped_demo.log
    assert "No migrations to apply" not in stopped_demo.log
    assert "demo data already present" not in stopped_demo.log
    assert stopped_demo.returncode == 1, stopped_demo.log
    expected = "the smtpd process stopped (killed by signal KILL); stopping the others"
    assert expected in stopped_demo.log
    assert stopped_demo.left == []


def read_until(fd: int, marker: bytes, timeout: float) -> bytes:
    """What the script wrote to the pipe ``fd`` up to ``marker`` (or its end)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"timed out waiting for {marker!r}: {seen.decode(errors='replace')}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
    return seen


def test_a_closed_terminal_stops_every_child_though_the_script_cannot_write(tmp_path, stopped_demo):
    # given the demo up (on a copy of the var the module's run migrated and seeded), writing to
    # a pipe (as `make demo | tee log`, or a tmux pane's terminal)
    shutil.copytree(stopped_demo.var, tmp_path / "var")
    web, smtp = free_port(), free_port()
    proc = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        env=demo_env(tmp_path, LASTMILE_PORT=web, LASTMILE_SMTP_PORT=smtp),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    try:
        text = read_until(proc.stdout.fileno(), b"Press Ctrl-C", timeout=240)
        assert b"demo data already present" in text, text.decode(errors="replace")
        assert BANNER.encode() in text, text.decode(errors="replace")
        children = [pid for pid, _ in session_members(proc.pid) if pid != proc.pid]
        commands = " ".join(cmd for _, cmd in session_members(proc.pid))
        assert all(f"lastmile {name}" in commands for name in ("worker", "smtpd")), commands
        assert "gunicorn" in commands, commands

        # when the terminal goes away: nobody reads the pipe any more, and the hangup reaches
        # the script and its children (`tmux kill-session`, a closed terminal window)
        proc.stdout.close()
        os.killpg(proc.pid, signal.SIGHUP)

        # then the script stops them all (gunicorn and the worker take SIGHUP as "reload"),
        # though it cannot say so, and exits as a hangup does
        returncode = proc.wait(timeout=30)
        wait_for(lambda: session_members(proc.pid) == [], timeout=15, what="the children to stop")
    finally:
        kill_all(proc.pid)
    assert returncode == 129
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)
    for port in (web, smtp):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))  # free again
