"""The background queue: huey on SQLite by default, on Redis when LASTMILE_QUEUE_URL says so."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import pytest
from huey import RedisHuey

from lastmile.channels.models import OutboxMessage
from tests.conftest import require


def redis_up() -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", 6379)) == 0


needs_redis = pytest.mark.skipif(
    not redis_up() and not require("redis"),
    reason="Redis not reachable on 127.0.0.1:6379: skipping the Redis variant",
)


def test_healthz_names_the_queue_when_it_is_down(client, db, monkeypatch):
    import huey.contrib.djhuey as djhuey

    monkeypatch.setattr(djhuey, "HUEY", RedisHuey("down", url="redis://127.0.0.1:1/0"))
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json() == {"db": "ok", "queue": "down"}


def _env(env: dict[str, str], queue_url: str) -> dict[str, str]:
    env["LASTMILE_QUEUE_URL"] = queue_url
    # The SQLite and PostgreSQL runs of the suite may share this Redis at the same time.
    env["LASTMILE_QUEUE_NAME"] = f"lastmile-test-{uuid.uuid4().hex}"
    env["LASTMILE_EMAIL_BACKEND"] = "django.core.mail.backends.console.EmailBackend"
    return env


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_on_redis_delivers_a_queued_outbox_message(tmp_path, cli_env):
    now = datetime.now(UTC)
    message = OutboxMessage.objects.create(
        key=f"test:{uuid.uuid4()}",
        recipient="lead@example.com",
        subject="Loop breached",
        body="b",
        created_at=now,
        next_attempt_at=now,
    )
    queue = f"redis://127.0.0.1:6379/{int(uuid.uuid4()) % 15 + 1}"
    env = _env(cli_env, queue)
    worker = subprocess.Popen(
        [sys.executable, "-m", "lastmile.cli", "worker", "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import django; django.setup(); "
                "from lastmile.channels.tasks import outbox_deliver_task; outbox_deliver_task()",
            ],
            env={**env, "DJANGO_SETTINGS_MODULE": "lastmile.settings"},
            check=True,
            timeout=60,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message.refresh_from_db()
            if message.attempts:
                break
            time.sleep(0.1)
        assert message.status == "sent", message.last_error
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@needs_redis
def test_healthz_with_a_redis_queue_is_ok(tmp_path, cli_env):
    env = _env(cli_env, "redis://127.0.0.1:6379/14")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from lastmile.core.views import _queue_ok; "
            "from huey.contrib.djhuey import HUEY; print(type(HUEY).__name__, _queue_ok())",
        ],
        env={**env, "DJANGO_SETTINGS_MODULE": "lastmile.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["RedisHuey", "True"]


OPEN_QUEUE = """
import sys, time
from {module} import {cls}
start = float(sys.argv[2])
while time.time() < start:
    pass
{cls}("race", filename=sys.argv[1]).storage.enqueue(b"x")
"""


def _open_together(tmp_path, module: str, cls: str, rounds: int, width: int) -> list[str]:
    """Errors from ``width`` processes opening one new queue file at the same instant."""
    errors = []
    for n in range(rounds):
        path = tmp_path / f"q{n}.sqlite3"
        start = f"{time.time() + 0.5:.3f}"
        code = OPEN_QUEUE.format(module=module, cls=cls)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(path), start],
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(width)
        ]
        errors += [p.communicate(timeout=60)[1].strip().splitlines()[-1:] for p in procs]
    return [e[0] for e in errors if e]


def test_processes_opening_a_new_sqlite_queue_together_all_open_it(tmp_path):
    # given huey's own SqliteHuey, several processes opening a new file at once can fail
    # (the switch to WAL answers "database is locked" without waiting); lastmile's waits
    errors = _open_together(tmp_path, "lastmile.core.queue", "SqliteHuey", rounds=4, width=4)
    # then every process opened the queue and enqueued its task
    assert errors == []
    import sqlite3

    for n in range(4):
        with sqlite3.connect(tmp_path / f"q{n}.sqlite3") as db:
            assert db.execute("select count(*) from task").fetchone() == (4,)


def test_the_configured_sqlite_queue_is_the_one_that_waits(settings):
    import huey.contrib.djhuey as djhuey

    from lastmile.core.queue import WaitingSqliteStorage

    assert settings.HUEY["huey_class"] == "lastmile.core.queue.SqliteHuey"
    assert isinstance(djhuey.HUEY.storage, WaitingSqliteStorage)
