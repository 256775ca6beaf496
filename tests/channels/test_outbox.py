"""The outbox delivers escalations by SMTP to a real (local) server, once each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lastmile.channels.models import OutboxMessage
from lastmile.channels.services import MAX_ATTEMPTS, outbox_deliver, outbox_enqueue, outbox_message

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def queue(key="loop:1:level:1"):
    return outbox_enqueue(
        [
            outbox_message(
                key=key, recipient="lead@example.com", subject="Breached", body="b", now=NOW
            )
        ]
    )


@pytest.mark.django_db
def test_a_message_is_queued_once_per_key():
    assert queue() == 1
    assert queue() == 0
    assert OutboxMessage.objects.count() == 1


@pytest.mark.django_db
def test_delivery_sends_by_smtp_and_marks_sent(smtp_sink):
    queue()
    result = outbox_deliver(now=NOW)
    assert result.sent == 1 and len(smtp_sink.envelopes) == 1
    assert smtp_sink.envelopes[0].rcpt_tos == ["lead@example.com"]
    assert b"X-Lastmile-Key: loop:1:level:1" in smtp_sink.envelopes[0].content
    assert outbox_deliver(now=NOW + timedelta(minutes=5)).sent == 0
    assert len(smtp_sink.envelopes) == 1 and OutboxMessage.objects.get().status == "sent"


@pytest.mark.django_db
def test_a_failed_delivery_is_retried_with_backoff_then_given_up(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1  # nothing listens there
    queue()
    at = NOW
    for attempt in range(1, MAX_ATTEMPTS + 1):
        outbox_deliver(now=at)
        message = OutboxMessage.objects.get()
        assert message.attempts == attempt and message.last_error
        if attempt < MAX_ATTEMPTS:
            assert message.status == "pending" and message.next_attempt_at == at + timedelta(
                minutes=2 ** (attempt - 1)
            )
            assert outbox_deliver(now=message.next_attempt_at - timedelta(seconds=1)).retried == 0
            at = message.next_attempt_at
    assert OutboxMessage.objects.get().status == "failed"
