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
