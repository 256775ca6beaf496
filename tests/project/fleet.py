"""Real ``lastmile serve`` and ``lastmile worker`` processes for the multi-process test
(tests/project/test_multiprocess.py) and the soak script (scripts/soak.py).

Each process runs in its own process group (``start_new_session``), so a SIGKILL of the
group takes gunicorn's master and its workers together, as a machine losing the service
would; ``Fleet.close`` kills every group it started, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Enqueues the periodic work every ``interval`` seconds, as the consumers' scheduler does every
# minute: the sweep (which kicks the outbox and the webhooks on commit) and both deliveries.
KICKER = """
import sys, time
import django
django.setup()
from lastmile.channels.tasks import outbox_deliver_task
from lastmile.loops.tasks import sweep_loops
from lastmile.webhooks.tasks import deliveries_send_task
interval = float(sys.argv[1])
print("kicker ready", flush=True)
while True:
    for task in (sweep_loops, outbox_deliver_task, deliveries_send_task):
        try:
            task()
        except Exception as exc:  # Redis restarting (the soak): the next round enqueues
            print(f"kicker: {type(exc).__name__}: {exc}", flush=True)
    time.sleep(interval)
"""


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Member:
    """One service process of the fleet: how to start it, and its current incarnation."""

    name: str
    argv: list[str]
    log: Path
    port: int | None = None
    proc: subprocess.Popen | None = None
    starts: int = 0
    kills: int = 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Fleet:
    """Web processes, workers and a kicker on one environment (database, queue, mail)."""

    env: dict[str, str]
    log_dir: Path
    members: dict[str, Member] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)  # what happened when, for failure output
    started_at: float = field(default_factory=time.monotonic)

    def note(self, what: str) -> None:
        self.events.append(f"{time.monotonic() - self.started_at:7.2f}s {what}")

    def add_web(self, name: str, port: int, *, threads: int = 4) -> Member:
        argv = [sys.executable, "-m", "lastmile.cli", "serve", "--port", str(port)]
        argv += ["--workers", "1", "--threads", str(threads)]
        return self._add(Member(name, argv, self.log_dir / f"{name}.log", port=port))

    def add_worker(self, name: str, *, threads: int = 2) -> Member:
        argv = [sys.executable, "-m", "lastmile.cli", "worker", "--workers", str(threads)]
        return self._add(Member(name, argv, self.log_dir / f"{name}.log"))

    def add_kicker(self, name: str = "kicker", *, interval: float = 1.0) -> Member:
        argv = [sys.executable, "-c", KICKER, str(interval)]
        return self._add(Member(name, argv, self.log_dir / f"{name}.log"))

    def _add(self, member: Member) -> Member:
        self.members[member.name] = member
        return member

    def start(self, member: Member) -> None:
        assert not member.alive, f"{member.name} is running"
        with member.log.open("a") as log:
            log.write(f"--- start {member.starts + 1}\n")
            log.flush()
            member.proc = subprocess.Popen(
                member.argv,
                env={**self.env, "DJANGO_SETTINGS_MODULE": "lastmile.settings"},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed as one
            )
        member.starts += 1
        self.note(f"start {member.name} pid {member.proc.pid}")

    def kill(self, member: Member) -> None:
        """SIGKILL the member's whole process group and reap it."""
        if member.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(member.proc.pid, signal.SIGKILL)
        member.proc.wait(timeout=30)
        if member.starts:
            member.kills += 1
        self.note(f"SIGKILL {member.name} pid {member.proc.pid}")

    def start_all(self) -> None:
        for member in self.members.values():
            if not member.alive:
                self.start(member)

    def wait_ready(self, members: list[Member], *, timeout: float = 60.0) -> None:
        """Until each web member answers on its port (workers: until still running)."""
        deadline = time.monotonic() + timeout
        for member in members:
            while member.port is not None and not port_open(member.port):
                if not member.alive:
                    raise RuntimeError(f"{member.name} exited:\n{self.tail(member)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{member.name} not listening:\n{self.tail(member)}")
                time.sleep(0.1)

    def tail(self, member: Member, lines: int = 30) -> str:
        if not member.log.exists():
            return "(no log)"
        return "\n".join(member.log.read_text(errors="replace").splitlines()[-lines:])

    def report(self) -> str:
        out = ["events:", *self.events]
        for member in self.members.values():
            out += [f"--- {member.name} (starts {member.starts}, kills {member.kills}):"]
            out += [self.tail(member)]
        return "\n".join(out)

    def close(self) -> None:
        for member in self.members.values():
            if member.proc is not None and member.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(member.proc.pid, signal.SIGKILL)
            if member.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    member.proc.wait(timeout=30)


def wait_for(condition: Callable[[], object], *, timeout: float, step: float = 0.2) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds pass; whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())
