"""Transports, headers, retries and claims: each message goes out once, or fails saying why."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from importlib import import_module

import pytest
from django.core import mail
from django.db import connections

from lastmile.channels.delivery import (
    PermanentFailure,
    email_message_id,
    transport_for,
    transport_register,
    transports_registered,
)
from lastmile.channels.models import ContactRule, OutboxMessage
from lastmile.channels.services import (
    LEASE,
    MAX_ATTEMPTS,
    outbox_deliver,
    outbox_enqueue,
    outbox_message,
    outbox_retry,
)
from lastmile.core.errors import InvalidInput
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def contact_rules(db):
    """The seeded rules, seeded again: a transactional test before this one emptied the table."""
    from django.apps import apps

    import_module("lastmile.channels.migrations.0004_contact_rules_seed").seed(apps, None)


MON = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def transport():
    """``transport(prefix, fn)`` registers ``fn`` for one test; afterwards channels route as before.

    A prefix the product registers (``sms``, ``email``…) gets its own transport back; a new
    one such as ``sms:twilio`` gets its parent's, which routes its channels as they were.
    """
    owned: dict[str, object] = {}
    new: list[str] = []

    def register(prefix, fn):
        if prefix in transports_registered():
            owned.setdefault(prefix, transport_for(prefix))
        elif prefix not in new:
            assert ":" in prefix, f"{prefix!r} has no parent to route it as before the test"
            new.append(prefix)
        transport_register(prefix, fn)
        return fn

    yield register
    for prefix, fn in owned.items():
        transport_register(prefix, fn)
    for prefix in new:
        transport_register(prefix, transport_for(prefix.rsplit(":", 1)[0]))


class Recording:
    """A transport that records what it was given; fails while ``failures`` > 0."""

    def __init__(self, failures: int = 0, exc: type[Exception] = ConnectionError) -> None:
        self.sent: list[str] = []
        self.failures = failures
        self.exc = exc
        self.lock = threading.Lock()

    def __call__(self, message: OutboxMessage) -> str:
        with self.lock:
            if self.failures:
                self.failures -= 1
                raise self.exc("provider said no")
            self.sent.append(message.key)
        return f"ext-{message.key}"


def queue(key="k1", **kw):
    kw.setdefault("recipient", "ann@example.com")
    return outbox_enqueue([outbox_message(key=key, now=kw.pop("now", MON), **kw)])


# --- idempotency -----------------------------------------------------------------------------


def test_the_same_key_is_queued_once_and_sent_once():
    assert queue("k") == 1
    assert queue("k", subject="changed") == 0
    assert outbox_deliver(now=MON).sent == 1
    assert queue("k") == 0
    assert outbox_deliver(now=MON + timedelta(hours=1)).sent == 0
    assert len(mail.outbox) == 1 and mail.outbox[0].subject == ""


def test_enqueue_kicks_delivery_once_the_transaction_commits(
    django_capture_on_commit_callbacks, monkeypatch
):
    kicked = []
    monkeypatch.setattr("lastmile.channels.tasks.outbox_deliver_task", lambda: kicked.append(1))
    with django_capture_on_commit_callbacks(execute=True):
        queue("a")
        assert kicked == []
    assert kicked == [1]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        queue("a")  # nothing new: no kick
    assert callbacks == [] and kicked == [1]


# --- transports ------------------------------------------------------------------------------


def test_a_registered_transport_delivers_its_channel_and_keeps_the_external_id(transport):
    sms = transport("sms", Recording())
    queue("t1", channel="sms", recipient="+447700900123", body="Your driver is 10 min away")
    queue("t2", channel="sms:twilio", recipient="+447700900124")
    assert outbox_deliver(now=MON).sent == 2
    assert sorted(sms.sent) == ["t1", "t2"] and mail.outbox == []
    assert OutboxMessage.objects.get(key="t1").external_id == "ext-t1"


def test_the_longest_registered_prefix_wins(transport):
    general = transport("sms", Recording())
    twilio = transport("sms:twilio", Recording())
    assert transport_for("sms:twilio") is twilio
    assert transport_for("sms:twilio:eu") is twilio
    assert transport_for("sms:vonage") is general
    assert transport_for("smsc") is None
    with pytest.raises(ValueError):
        transport_register("", general)


def test_a_channel_without_transport_fails_at_once_and_says_so():
    queue("w", channel="pigeon", recipient="+447700900123")
    result = outbox_deliver(now=MON)
    m = OutboxMessage.objects.get()
    assert (result.failed, result.sent, m.status, m.attempts) == (1, 0, "failed", 1)
    registered = ", ".join(transports_registered())
    assert f"no transport for channel 'pigeon' (registered: {registered})" in m.last_error
    assert "email" in transports_registered() and "pigeon" not in registered
    assert m.sent_at is None and mail.outbox == []


def test_a_permanent_failure_is_not_retried(transport):
    transport("sms", Recording(failures=1, exc=PermanentFailure))
    queue("p", channel="sms")
    assert outbox_deliver(now=MON).failed == 1
    m = OutboxMessage.objects.get()
    assert (m.status, m.attempts, m.last_error) == (
        "failed",
        1,
        "PermanentFailure: provider said no",
    )


# --- retries ---------------------------------------------------------------------------------


def test_a_failure_is_retried_with_exponential_backoff_and_then_sent(transport):
    flaky = transport("sms", Recording(failures=3))
    queue("r", channel="sms")
    at = MON
    for attempt, wait in enumerate([1, 2, 4], start=1):
        assert outbox_deliver(now=at).retried == 1
        m = OutboxMessage.objects.get()
        assert (m.status, m.attempts, m.claimed_at) == ("pending", attempt, None)
        assert m.next_attempt_at == at + timedelta(minutes=wait)
        assert "ConnectionError: provider said no" in m.last_error
        assert outbox_deliver(now=m.next_attempt_at - timedelta(seconds=1)).retried == 0
        at = m.next_attempt_at
    assert outbox_deliver(now=at).sent == 1
    m = OutboxMessage.objects.get()
    assert (m.status, m.attempts, m.last_error, flaky.sent) == ("sent", 4, "", ["r"])


def test_after_the_last_attempt_the_message_fails(transport):
    transport("sms", Recording(failures=MAX_ATTEMPTS + 5))
    queue("f", channel="sms")
    at = MON
    for _ in range(MAX_ATTEMPTS):
        outbox_deliver(now=at)
        at = OutboxMessage.objects.get().next_attempt_at
    m = OutboxMessage.objects.get()
    assert (m.status, m.attempts) == ("failed", MAX_ATTEMPTS)
    assert outbox_deliver(now=at + timedelta(days=1)).failed == 0  # left alone from now on


def test_retry_now_queues_failed_messages_only(transport):
    sms = transport("sms", Recording(failures=1, exc=PermanentFailure))
    queue("failed", channel="sms")
    queue("sent")
    outbox_deliver(now=MON)
    assert (
        outbox_retry(message_ids=OutboxMessage.objects.values_list("pk", flat=True), now=MON) == 1
    )
    failed, sent = OutboxMessage.objects.get(key="failed"), OutboxMessage.objects.get(key="sent")
    assert (failed.status, failed.attempts, failed.next_attempt_at) == ("pending", 0, MON)
    assert "provider said no" in failed.last_error  # the last error stays until the next try
    assert sent.status == "sent"
    assert outbox_deliver(now=MON).sent == 1 and sms.sent == ["failed"]
    assert len(mail.outbox) == 1  # the sent one was not sent again


def test_the_admin_retry_action_queues_a_failed_message(client, staff):
    queue("f", channel="pigeon")
    outbox_deliver(now=MON)
    m = OutboxMessage.objects.get()
    r = client.post(
        "/admin/channels/outboxmessage/",
        {"action": "retry_now", "_selected_action": [m.pk]},
        follow=True,
    )
    assert "1 message(s) queued again." in r.content.decode()
    assert OutboxMessage.objects.get().status == "pending"
    page = client.get("/admin/channels/outboxmessage/?status__exact=pending").content.decode()
    assert "pigeon" in page
    assert client.get("/admin/channels/contactrule/").status_code == 200


def test_the_admin_refuses_half_set_quiet_hours(client, staff):
    rule = ContactRule.objects.get(purpose="survey")
    r = client.post(
        f"/admin/channels/contactrule/{rule.pk}/change/",
        {
            "purpose": "survey",
            "active": "on",
            "quiet_start": "21:00",
            "quiet_end": "",
            "caps_apply": "on",
            "period": "7 00:00:00",
            "scope": "purpose",
        },
    )
    assert r.status_code == 200 and "Give both the start and the end" in r.content.decode()
    rule.refresh_from_db()
    assert rule.quiet_end is not None  # unchanged


# --- claims ----------------------------------------------------------------------------------


def test_a_claimed_message_is_not_taken_by_another_worker_until_its_lease_ends(transport):
    # Given a message a worker claimed and then died while sending it
    sms = transport("sms", Recording())
    queue("c", channel="sms")
    OutboxMessage.objects.update(claimed_at=MON, next_attempt_at=MON + LEASE, attempts=1)
    # Then nobody sends it during the lease, and it is sent once after it
    assert outbox_deliver(now=MON + LEASE - timedelta(seconds=1)).sent == 0
    assert outbox_deliver(now=MON + LEASE).sent == 1
    m = OutboxMessage.objects.get()
    assert (m.status, m.attempts, m.claimed_at, sms.sent) == ("sent", 2, None, ["c"])


def test_a_worker_records_nothing_over_a_claim_another_worker_took_over(transport):
    # A slow send whose lease ran out: the second worker's claim wins, the first's late
    # outcome does not overwrite it.
    taken_over = []

    def slow(message):
        if not taken_over:
            taken_over.append(1)
            OutboxMessage.objects.filter(pk=message.pk).update(claimed_at=MON + LEASE)
        return None

    transport("sms", slow)
    queue("c", channel="sms")
    assert outbox_deliver(now=MON).sent == 0
    assert OutboxMessage.objects.get().claimed_at == MON + LEASE


def test_the_keys_argument_limits_a_run_to_those_messages():
    queue("a")
    queue("b")
    assert outbox_deliver(now=MON, keys=["b"]).sent == 1
    assert set(OutboxMessage.objects.values_list("key", "status")) == {
        ("a", "pending"),
        ("b", "sent"),
    }


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_message_once_and_keep_the_cap(transport):
    # Given 10 customers with 3 marketing messages each, at most 1 per week, and 20 sms
    ContactRule.objects.filter(purpose="marketing").update(
        max_per_period=1, quiet_start=None, quiet_end=None, min_gap=None
    )
    sms = Recording()
    transport("sms", lambda m: (threading.Event().wait(0.005), sms(m))[1])
    customers = [CustomerFactory() for _ in range(10)]
    outbox_enqueue(
        [
            outbox_message(
                key=f"m:{c.pk}:{i}",
                purpose="marketing",
                channel="sms",
                recipient="+1",
                customer=c,
                now=MON,
            )
            for c in customers
            for i in range(3)
        ]
        + [outbox_message(key=f"n:{i}", channel="sms", recipient="+1", now=MON) for i in range(20)]
    )
    # When two workers deliver at the same instant, one message at a time
    start = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            start.wait()
            results.append(outbox_deliver(now=MON, batch_size=1))
        except Exception as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # Then nothing was sent twice, and each customer got exactly one marketing message
    assert errors == [] and len(results) == 2
    assert max(Counter(sms.sent).values()) == 1
    assert len(sms.sent) == 10 + 20 and sum(r.sent for r in results) == 30
    per_customer = Counter(k.split(":")[1] for k in sms.sent if k.startswith("m:"))
    assert sorted(per_customer.values()) == [1] * 10
    assert OutboxMessage.objects.filter(status="suppressed").count() == 20


# --- email -----------------------------------------------------------------------------------


def test_email_honours_threading_headers_and_reply_to(smtp_sink):
    queue(
        "mail:1",
        subject="Re: My parcel",
        body="It ships today.",
        purpose="reply",
        data={
            "headers": {
                "Message-ID": "<reply-1@support.example.com>",
                "In-Reply-To": "<question-1@customer.example.org>",
                "References": "<question-0@customer.example.org> <question-1@customer.example.org>",
            },
            "reply_to": "support+LM-1042@example.com",
            "from_email": "Support <support@example.com>",
        },
    )
    assert outbox_deliver(now=MON).sent == 1
    (envelope,) = smtp_sink.envelopes
    sent = message_from_bytes(envelope.content, policy=default)
    assert sent["Message-ID"] == "<reply-1@support.example.com>"
    assert sent["In-Reply-To"] == "<question-1@customer.example.org>"
    assert sent["References"] == (
        "<question-0@customer.example.org> <question-1@customer.example.org>"
    )
    assert sent["Reply-To"] == "support+LM-1042@example.com"
    assert sent["From"] == "Support <support@example.com>"
    assert sent["X-Lastmile-Key"] == "mail:1"
    assert len(sent.get_all("Message-ID")) == 1
    assert envelope.mail_from == "support@example.com"
    assert OutboxMessage.objects.get().external_id == "<reply-1@support.example.com>"


def test_email_without_a_message_id_gets_one_made_from_its_key(smtp_sink):
    queue("mail:2", data={"reply_to": ["a@example.com", "b@example.com"]})
    outbox_deliver(now=MON)
    sent = message_from_bytes(smtp_sink.envelopes[0].content, policy=default)
    assert sent["Message-ID"] == email_message_id("mail:2")
    assert sent["Reply-To"] == "a@example.com, b@example.com"
    assert OutboxMessage.objects.get().external_id == email_message_id("mail:2")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"headers": "Message-ID: <x@y>"}, "data.headers"),
        (
            {"headers": {"In-Reply-To": "<a@b>\r\nBcc: victim@example.com"}},
            "data.headers.In-Reply-To",
        ),
        ({"headers": {"Bad Name": "x"}}, "data.headers"),
        ({"reply_to": "not an address"}, "data.reply_to"),
        ({"from_email": 42}, "data.from_email"),
    ],
)
def test_bad_email_fields_are_refused_when_queued_and_nothing_is_written(data, field):
    with pytest.raises(InvalidInput) as exc:
        queue("bad", data=data)
    assert [e.field for e in exc.value.errors] == [field]
    assert not OutboxMessage.objects.exists()


def test_a_stored_message_with_bad_headers_fails_without_retry():
    queue("bad")
    OutboxMessage.objects.update(data={"headers": {"X": "a\nb"}})
    assert outbox_deliver(now=MON).failed == 1
    assert "data.headers.X" in OutboxMessage.objects.get().last_error
