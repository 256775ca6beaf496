"""Recovery outreach by text message: a rule's message on ``sms:<integration>`` goes through
the outbox to the customer's phone, via that SMS integration (a signed POST to a real local
receiver), under the same ``recovery`` contact rule as email."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

import pytest
from django.apps import apps as django_apps

from lastmile.channels.models import ContactRule, OutboxMessage, OutboxStatus
from lastmile.channels.services import outbox_deliver
from lastmile.core.errors import InvalidInput
from lastmile.customers.models import Customer
from lastmile.loops.models import Loop, LoopState
from lastmile.recovery.models import Recovery
from lastmile.recovery.services import recoveries_detect, rule_save
from lastmile.webhooks.services.integrations import integration_create
from tests.recovery.conftest import CART, track

pytestmark = pytest.mark.django_db

PHONE = "+4915112345678"


@pytest.fixture
def gateway(receiver, webhooks_to_loopback, now):
    """An SMS gateway's integration, replies POSTed to the local receiver."""
    return integration_create(name="Gateway", channel="sms", url=receiver.url, now=now)


def texts(funnel, team, now, *, name="Texts", channel="sms:gateway"):  # type: ignore[no-untyped-def]
    return rule_save(
        name=name,
        funnel=funnel,
        abandon_step=2,
        abandon_after_seconds=3600,
        window_seconds=3 * 86400,
        team=team,
        outreach="message",
        channel=channel,
        body="Hi {{customer.first_name}}, your {{items}} ({{value}} {{currency}}) wait for you.",
        now=now - timedelta(days=1),
    )


@pytest.fixture
def stopped(send, now):
    """Noor (a phone and an email address) started the checkout two hours ago, stopped."""

    def stopped(*, phone: str | None = PHONE) -> Customer:
        at = now - timedelta(hours=2)
        traits = {"email": "noor@example.com", "name": "Noor Haddad"}
        if phone:
            traits["phone"] = phone
        ids = send(
            {
                "type": "identify",
                "messageId": "noor-identify",
                "userId": "noor",
                "timestamp": (at - timedelta(minutes=10)).isoformat(),
                "traits": traits,
            },
            track("Product Added", user="noor", at=at - timedelta(minutes=5)),
            track("Checkout Started", user="noor", at=at, **CART),
            at=at,
        )
        customer = Customer.objects.get(interactions__pk=ids[-1])
        Customer.objects.filter(pk=customer.pk).update(display_name="Noor Haddad")
        return customer

    return stopped


def test_a_rule_texts_the_customer_through_the_sms_integration(
    funnel, team, gateway, stopped, copy, engine, now, receiver
):
    # given a rule whose outreach is a text message through the gateway
    integration, secret = gateway
    rule = texts(funnel, team, now)
    assert rule.outreach_label.startswith("sms:gateway: Hi {{customer.first_name}}")
    customer = stopped()
    copy(now)

    # when the detection runs and the outbox delivers
    recoveries_detect(now=now, engine=engine)
    outbox_deliver(now=now)

    # then the message went to Noor's phone, through the gateway, signed, under the
    # recovery contact purpose, and is marked sent
    msg = OutboxMessage.objects.get()
    assert (msg.purpose, msg.channel, msg.recipient, msg.customer_id) == (
        "recovery",
        "sms:gateway",
        PHONE,
        customer.pk,
    )
    assert msg.status == OutboxStatus.SENT and msg.subject == ""
    (got,) = receiver.requests
    got.verify(secret)
    sent = got.json()
    assert (sent["channel"], sent["to"]) == ("sms", PHONE)
    assert sent["text"] == "Hi Noor, your Trail shoes, 2 × Socks (129.50 EUR) wait for you."
    assert sent["external_id"] == f"recovery:{Recovery.objects.get().pk}"


def test_texts_and_emails_share_the_recovery_contact_rule(
    funnel, team, gateway, stopped, copy, engine, now, receiver, smtp_sink
):
    # given the seeded contact rule (one recovery message a week, whatever the channel) and
    # two rules on the funnel, one emailing and one texting
    seed = import_module("lastmile.recovery.migrations.0002_contact_rule_seed").seed
    seed(django_apps, None)  # (a transactional test before may have emptied the table)
    assert ContactRule.objects.get(purpose="recovery").max_per_period == 1
    texts(funnel, team, now)
    rule_save(
        name="Emails",
        funnel=funnel,
        abandon_step=2,
        abandon_after_seconds=3600,
        window_seconds=86400,
        team=team,
        outreach="message",
        channel="email",
        subject="Still thinking?",
        body="Your cart is here.",
        now=now,
    )
    stopped()
    copy(now)
    recoveries_detect(now=now, engine=engine)
    assert OutboxMessage.objects.count() == 2

    # when the outbox delivers
    outbox_deliver(now=now)

    # then one of the two went out, the other was suppressed by the contact rule
    statuses = sorted(OutboxMessage.objects.values_list("status", flat=True))
    assert statuses == sorted([OutboxStatus.SENT, OutboxStatus.SUPPRESSED])
    assert len(receiver.requests) + len(smtp_sink.envelopes) == 1


def test_someone_with_no_phone_gets_no_text_and_the_loop_stays_the_teams(
    funnel, team, gateway, stopped, copy, engine, now
):
    texts(funnel, team, now)
    stopped(phone=None)
    copy(now)

    assert recoveries_detect(now=now, engine=engine).opened == 1

    assert not OutboxMessage.objects.exists()
    loop = Loop.objects.get(pk=Recovery.objects.get().loop_id)
    assert (loop.state, loop.team) == (LoopState.OPEN, team)


@pytest.mark.parametrize(
    ("setup", "channel"),
    [
        ("none", "sms:gateway"),  # no such integration
        ("off", "sms:gateway"),  # switched off
        ("no_url", "sms:gateway"),  # receives only: nothing to send through
        ("whatsapp", "sms:gateway"),  # a WhatsApp integration is not an SMS one
        ("ok", "sms"),  # which integration?
    ],
)
def test_a_text_rule_needs_an_sms_integration_that_can_send(
    funnel, team, now, setup, channel, webhooks_to_loopback
):
    if setup != "none":
        integration_create(
            name="Gateway",
            slug="gateway",
            channel="whatsapp" if setup == "whatsapp" else "sms",
            url="" if setup == "no_url" else "http://127.0.0.1:9/hook",
            active=setup != "off",
            now=now,
        )

    with pytest.raises(InvalidInput) as exc:
        texts(funnel, team, now, channel=channel)

    assert [e.field for e in exc.value.errors] == ["channel"]


def test_a_text_has_no_subject_and_at_most_1600_characters(funnel, team, gateway, now):
    with pytest.raises(InvalidInput) as exc:
        rule_save(
            name="Long",
            funnel=funnel,
            abandon_step=2,
            window_seconds=86400,
            team=team,
            outreach="message",
            channel="sms:gateway",
            body="x" * 1601,
            now=now,
        )

    assert [e.field for e in exc.value.errors] == ["body"]
