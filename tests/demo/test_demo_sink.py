"""The demo's messaging integrations send replies to the demo's own sink on loopback (when
the outbox may reach loopback, as ``make demo`` allows), so a reply by SMS is queued and
delivered through the real outbox, and the sink says nothing went on to a phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from lastmile.cases.models import Case
from lastmile.channels.models import OutboxMessage
from lastmile.channels.replies import Delivery, case_reply_send, reply_options
from lastmile.channels.services import outbox_deliver
from lastmile.customers.models import Interaction
from lastmile.demo.extensions import webhooks as webhooks_demo
from lastmile.demo.seed import seed_demo
from lastmile.demo.sink import sink_url
from lastmile.demo.views import NOT_SENT
from lastmile.people.models import Agent
from lastmile.webhooks.models import Integration

NOW = datetime(2026, 11, 25, 19, 31, tzinfo=UTC)
LOOPBACK = ("127.0.0.1/32",)
FAST = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])


def seed_webhooks_part(monkeypatch, customers: int = 12):  # type: ignore[no-untyped-def]
    # Only the webhooks app's part after the core stories (test_seed_demo seeds every app's).
    # ``customers=0``, no background customers, where only the stories' messages are read.
    monkeypatch.setattr("lastmile.demo.seed.DEMO_EXTENSIONS", [webhooks_demo])
    with FAST:
        return seed_demo(out=lambda line: None, seed=7, customers=customers, now=NOW)


# --- where the sink is ------------------------------------------------------------------


def test_the_sink_is_on_the_demos_own_loopback_port_when_loopback_may_be_reached(settings):
    settings.LASTMILE_PUBLIC_URL = "http://127.0.0.1:8104"
    settings.LASTMILE_WEBHOOK_ALLOWED_NETWORKS = LOOPBACK
    assert sink_url("bank-sms") == "http://127.0.0.1:8104/demo/sink/bank-sms"


def test_there_is_no_sink_while_the_outbox_may_not_reach_loopback(settings):
    settings.LASTMILE_PUBLIC_URL = "http://127.0.0.1:8104"
    settings.LASTMILE_WEBHOOK_ALLOWED_NETWORKS = ()
    assert sink_url("bank-sms") == ""


def test_there_is_no_sink_when_the_demo_is_not_served_on_loopback(settings):
    settings.LASTMILE_PUBLIC_URL = "https://help.example.com"
    settings.LASTMILE_WEBHOOK_ALLOWED_NETWORKS = LOOPBACK
    assert sink_url("bank-sms") == ""


# --- the sink -----------------------------------------------------------------------------


def test_the_sink_answers_like_a_gateway_and_says_nothing_was_sent(client, settings):
    settings.DEBUG = True
    answer = client.post(
        "/demo/sink/home-sms", {"channel": "sms", "external_id": "k-1"}, "application/json"
    )
    assert answer.status_code == 200
    assert answer.json() == {"id": "demo-k-1", "delivered": False, "note": NOT_SENT}


def test_outside_the_demo_the_sink_is_not_there(client, settings):
    settings.DEBUG = False
    answer = client.post("/demo/sink/home-sms", {"channel": "sms"}, "application/json")
    assert answer.status_code == 404


def test_the_sink_takes_only_a_json_post(client, settings):
    settings.DEBUG = True
    assert client.get("/demo/sink/home-sms").status_code == 405
    assert client.post("/demo/sink/home-sms", "nope", "application/json").status_code == 400


# --- the seeded demo ----------------------------------------------------------------------


@pytest.mark.django_db
def test_without_loopback_allowed_the_demos_integrations_stay_inbound_only(monkeypatch, settings):
    settings.LASTMILE_WEBHOOK_ALLOWED_NETWORKS = ()
    report = seed_webhooks_part(monkeypatch, customers=0)
    assert set(Integration.objects.values_list("url", flat=True)) == {""}
    assert any("inbound only" in line for line in report.lines())


@pytest.mark.django_db(transaction=True)
def test_a_demo_reply_by_sms_is_queued_and_delivered_to_the_demo_sink(
    monkeypatch, settings, live_server
):
    # Given the demo seeded as make demo seeds it: served on loopback, loopback reachable
    settings.DEBUG = True
    settings.LASTMILE_PUBLIC_URL = live_server.url
    settings.LASTMILE_WEBHOOK_ALLOWED_NETWORKS = LOOPBACK
    report = seed_webhooks_part(monkeypatch, customers=0)  # the SMS is Margaret's story's
    sms = Integration.objects.get(slug="home-sms")
    port = live_server.url.rsplit(":", 1)[1]
    assert sms.url == f"http://127.0.0.1:{port}/demo/sink/home-sms"
    assert any("demo sink" in line for line in report.lines())
    text = Interaction.objects.get(channel="sms", source_id__startswith="home-sms:")
    agent = Agent.objects.filter(teams=text.case.team).first().user

    # When the field agent replies by SMS
    sent = case_reply_send(
        case=text.case, channel="sms", body="Your invoice is on its way.", actor=agent, now=NOW
    )

    # Then it is queued, not logged, and the agent is told so
    assert sent.delivery == Delivery.QUEUED
    assert sent.said.startswith("Queued on SMS to +44") and sent.said.endswith(
        "via Lastmile Home SMS."
    )
    # and the worker delivers it to the sink, which answers with its id
    row = OutboxMessage.objects.get(pk=sent.outbox_id)
    assert outbox_deliver(now=datetime.now(UTC), keys=[row.key]).sent == 1
    row.refresh_from_db()
    assert (row.status, row.external_id) == ("sent", f"demo-{row.key}")


@pytest.mark.django_db
def test_the_demos_open_chat_cases_can_be_answered_on_chat(monkeypatch, settings):
    # Given the demo seeded with the sink reachable, as make demo seeds it
    settings.LASTMILE_PUBLIC_URL = "http://127.0.0.1:8104"
    settings.LASTMILE_WEBHOOK_ALLOWED_NETWORKS = LOOPBACK
    seed_webhooks_part(monkeypatch)
    # Then every open chat case whose customer last wrote on chat this month (not only Aisha
    # Khan's) came in through its brand's chat, and the composer offers to send on chat
    recent = NOW - timedelta(days=20)
    chats = Case.objects.filter(
        channel="chat", status__in=["open", "pending"], created_at__gte=recent
    )
    assert chats.count() >= 3
    for case in chats:
        options = {o.channel: o for o in reply_options(case=case)}
        assert "chat" in options and options["chat"].delivers, (case.ref, case.subject)
    via = {i.slug for i in Integration.objects.filter(channel="chat")}
    assert {"bank-chat", "hotel-chat"} <= via
