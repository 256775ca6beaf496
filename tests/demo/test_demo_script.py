"""``make demo`` (scripts/demo.sh): a taken port fails first and says what to change; a child
that stops later is named, and nothing is left running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.net import free_port

ROOT = Path(__file__).resolve().parents[2]
BANNER = "lastmile demo is running"


@contextmanager
def port_held() -> Iterator[int]:
    """A port someone else is listening on, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s.getsockname()[1]


def group_members(pgid: int) -> list[tuple[int, str]]:
    """Processes still in the script's process group (pid, command line)."""
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
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append((int(entry.name), cmdline))
    return found


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
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert group_members(proc.pid) == []
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


def test_a_child_that_stops_after_the_banner_is_named_and_the_others_are_stopped(tmp_path):
    # given the demo up and running (a small seed: 12 customers)
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "demo.sh")],
            env=demo_env(tmp_path, LASTMILE_PORT=free_port(), LASTMILE_SMTP_PORT=free_port()),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(
            lambda: "Press Ctrl-C" in log.read_text() or proc.poll() is not None,
            timeout=240,
            what="the banner",
        )
        assert BANNER in log.read_text(), log.read_text()
        smtpd = [pid for pid, cmd in group_members(proc.pid) if "lastmile smtpd" in cmd]
        assert len(smtpd) == 1

        # when the SMTP receiver dies
        os.kill(smtpd[0], signal.SIGKILL)
        returncode = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)

    # then the script names it and how it stopped, and stops the web server and the worker
    text = log.read_text()
    assert returncode == 1
    assert "the smtpd process stopped (killed by signal KILL); stopping the others" in text
    assert group_members(proc.pid) == []
