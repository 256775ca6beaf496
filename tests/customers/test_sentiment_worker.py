"""A batch sent over HTTP is stored at once and scored by a real worker: the web process
asks for a drain once its write commits, and ``lastmile worker`` scores the messages."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
import requests

from lastmile.api.services import token_create
from lastmile.customers.models import Interaction, SentimentPending
from lastmile.sentiment import predict

ANGRY = "This is terrible, I am furious. Worst service ever."
HAPPY = "Thank you so much, wonderful help, I love it!"


@pytest.mark.django_db(transaction=True)
def test_a_batch_posted_over_http_is_scored_by_the_worker(
    live_server, tmp_path, cli_env, monkeypatch
):
    import huey.contrib.djhuey as djhuey

    from lastmile.core.queue import WaitingSqliteStorage
    from lastmile.customers.services import sentiment

    # given a worker and the live server on one queue of their own
    queue = tmp_path / "queue.sqlite3"
    name = "sentiment-e2e"
    monkeypatch.setattr(djhuey.HUEY, "storage", WaitingSqliteStorage(name, filename=str(queue)))
    monkeypatch.setattr(sentiment, "_drain_at", 0.0)
    env = {**cli_env, "LASTMILE_QUEUE_URL": f"sqlite:///{queue}", "LASTMILE_QUEUE_NAME": name}
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "lastmile.cli", "worker", "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _, token = token_create(name="integration", now=datetime.now(UTC))
        items = [
            {
                "source_id": f"chat-{n}",
                "channel": "chat",
                "direction": direction,
                "occurred_at": "2026-11-20T10:00:00Z",
                "body": body,
                "customer": {"identities": [{"kind": "email", "value": "a@example.com"}]},
            }
            for n, (direction, body) in enumerate(
                [("inbound", ANGRY), ("outbound", "Sorry about that."), ("inbound", HAPPY)]
            )
        ]

        # when a batch is posted
        r = requests.post(
            f"{live_server.url}/api/v1/interactions/batch",
            json={"items": items},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

        # then it is stored at once, its inbound messages pending
        assert r.status_code == 200, r.text
        ids = r.json()["ids"]
        # and the worker scores them without being asked again
        deadline = time.monotonic() + 90
        while SentimentPending.objects.exists() and time.monotonic() < deadline:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.2)
        assert not SentimentPending.objects.exists(), (tmp_path / "worker.log").read_text()
        rows = Interaction.objects.in_bulk(ids)
        got = [(rows[i].sentiment_label, rows[i].sentiment_score) for i in ids]
        angry, happy = predict([ANGRY, HAPPY])
        assert got == [angry, (None, None), happy]
        # by the drain the web process asked for, not the every-minute catch-up
        assert (
            "sentiments scored (asked after an ingest): 2 messages"
            in (tmp_path / "worker.log").read_text()
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
