"""The outbox applies the contact rules when it delivers: held, stopped (with the rule), sent.

Mail goes to Django's in-memory backend (``mail.outbox``), the one pytest-django installs.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from importlib import import_module

import pytest
import time_machine
from django.core import mail

from lastmile.channels.models import ContactRule, OutboxMessage
from lastmile.channels.selectors import contact_history, outbox_for_customer
from lastmile.channels.services import outbox_deliver, outbox_enqueue, outbox_message
from lastmile.customers.services.customers import customer_merge
from lastmile.customers.services.timeline import interaction_record
from lastmile.people.viewers import SYSTEM
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def contact_rules(db):
    """The seeded rules, seeded again: a transactional test before this one emptied the table."""
    from django.apps import apps

    import_module("lastmile.channels.migrations.0004_contact_rules_seed").seed(apps, None)


MON = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def send(customer, key, *, at, purpose="survey", **kw):
    """Queue one message for ``customer`` at ``at`` and run the worker at that instant."""
    outbox_enqueue(
        [
            outbox_message(
                key=key,
                purpose=purpose,
                recipient=kw.pop("recipient", "ann@example.com"),
                subject=kw.pop("subject", f"{purpose} {key}"),
                customer=customer,
                now=at,
                **kw,
            )
        ]
    )
    outbox_deliver(now=at)
    return OutboxMessage.objects.get(key=key)


def rule(purpose, **fields):
    """The seeded rule for ``purpose``, set to exactly ``fields`` (other limits off)."""
    r = ContactRule.objects.get(purpose=purpose)
    defaults = {
        "quiet_start": None,
        "quiet_end": None,
        "caps_apply": True,
        "max_per_period": None,
        "period": timedelta(days=7),
        "scope": "purpose",
        "min_gap": None,
        "max_unanswered": None,
        "customer_required": False,
    }
    for k, v in {**defaults, **fields}.items():
        setattr(r, k, v)
    r.save()
    return r


def answer(customer, at):
    interaction_record(
        customer=customer,
        channel="phone",
        direction="inbound",
        occurred_at=at,
        now=at,
        body="4 out of 5",
        customer_words=False,
    )


# --- seeded rules ----------------------------------------------------------------------------


def test_every_purpose_has_a_seeded_rule_and_replies_are_not_capped():
    rules = {r.purpose: r for r in ContactRule.objects.all()}
    assert set(rules) >= {"reply", "notification", "survey", "marketing", "callback", "escalation"}
    assert rules["reply"].caps_apply is False and rules["reply"].quiet_start is None
    assert rules["survey"].max_unanswered == 1  # ask once
    assert rules["escalation"].caps_apply is False


# --- ask once --------------------------------------------------------------------------------


def test_the_third_survey_call_is_suppressed_when_the_first_two_got_no_answer(customer):
    # Given: at most two unanswered survey attempts
    survey = rule("survey", max_unanswered=2)
    # When: three attempts a day apart, no answer
    first = send(customer, "s1", at=MON)
    second = send(customer, "s2", at=MON + timedelta(days=1))
    third = send(customer, "s3", at=MON + timedelta(days=2))
    # Then: two went out, the third was stopped by the survey rule, and says why
    assert (first.status, second.status, third.status) == ("sent", "sent", "suppressed")
    assert len(mail.outbox) == 2
    assert third.rule == survey and third.rule_check == "max_unanswered"
    assert "2 survey messages got no answer" in third.rule_reason
    assert third.attempts == 0 and third.sent_at is None


def test_a_survey_is_allowed_again_after_the_customer_answered(customer):
    rule("survey", max_unanswered=2)
    send(customer, "s1", at=MON)
    send(customer, "s2", at=MON + timedelta(days=1))
    answer(customer, MON + timedelta(days=1, hours=2))
    assert send(customer, "s3", at=MON + timedelta(days=2)).status == "sent"


def test_an_answer_before_the_attempts_does_not_reset_them(customer):
    rule("survey", max_unanswered=1)
    answer(customer, MON - timedelta(hours=1))
    send(customer, "s1", at=MON)
    assert send(customer, "s2", at=MON + timedelta(days=1)).rule_check == "max_unanswered"


def test_the_seeded_survey_rule_asks_once(customer):
    assert send(customer, "s1", at=MON).status == "sent"
    stopped = send(customer, "s2", at=MON + timedelta(days=8))
    assert (stopped.status, stopped.rule_check) == ("suppressed", "max_unanswered")


# --- caps and gaps ---------------------------------------------------------------------------


def test_caps_per_period_stop_the_message_over_the_cap_then_allow_after_the_period(customer):
    notification = rule("notification", max_per_period=2, period=timedelta(days=1))
    assert send(customer, "n1", at=MON, purpose="notification").status == "sent"
    assert (
        send(customer, "n2", at=MON + timedelta(hours=1), purpose="notification").status == "sent"
    )
    over = send(customer, "n3", at=MON + timedelta(hours=2), purpose="notification")
    assert (over.status, over.rule, over.rule_check) == (
        "suppressed",
        notification,
        "max_per_period",
    )
    # a suppressed message is not a contact: the day after, the window has room again
    assert send(customer, "n4", at=MON + timedelta(days=1), purpose="notification").status == "sent"


def test_a_cap_counts_per_customer(customer):
    rule("notification", max_per_period=1, period=timedelta(days=1))
    other = CustomerFactory()
    assert send(customer, "a", at=MON, purpose="notification").status == "sent"
    assert send(other, "b", at=MON, purpose="notification").status == "sent"


def test_a_minimum_gap_holds_the_message_then_sends_it(customer):
    rule("notification", min_gap=timedelta(hours=2))
    send(customer, "n1", at=MON, purpose="notification")
    held = send(customer, "n2", at=MON + timedelta(minutes=30), purpose="notification")
    assert (held.status, held.rule_check) == ("pending", "min_gap")
    assert held.next_attempt_at == MON + timedelta(hours=2) and held.attempts == 0
    assert outbox_deliver(now=MON + timedelta(hours=2) - timedelta(minutes=1)).sent == 0
    assert outbox_deliver(now=MON + timedelta(hours=2)).sent == 1
    assert len(mail.outbox) == 2


def test_a_message_in_flight_counts_towards_the_cap(customer):
    # Given a message a worker has claimed and is sending (not yet marked sent)
    rule("marketing", max_per_period=1)
    outbox_enqueue(
        [
            outbox_message(
                key="m1", purpose="marketing", recipient="a@x.io", customer=customer, now=MON
            )
        ]
    )
    OutboxMessage.objects.filter(key="m1").update(
        claimed_at=MON, next_attempt_at=MON + timedelta(minutes=15), attempts=1
    )
    # When a second worker considers another one, Then the first counts
    assert send(customer, "m2", at=MON, purpose="marketing").rule_check == "max_per_period"
    assert [c.purpose for c in contact_history(customer_id=customer.pk).contacts] == ["marketing"]


# --- replies and agents ----------------------------------------------------------------------


def test_replies_are_never_capped_even_by_a_strict_rule(customer):
    rule("reply", caps_apply=True, max_per_period=1, max_unanswered=1, min_gap=timedelta(days=1))
    statuses = [
        send(customer, f"r{i}", at=MON + timedelta(minutes=i), purpose="reply").status
        for i in range(5)
    ]
    assert statuses == ["sent"] * 5


def test_replies_in_quiet_hours_are_held_not_suppressed(customer):
    rule("reply", caps_apply=False, quiet_start=time(22), quiet_end=time(7))
    held = send(customer, "r", at=MON.replace(hour=23), purpose="reply")
    assert (held.status, held.rule_check) == ("pending", "quiet_hours")
    assert held.next_attempt_at == MON.replace(hour=7) + timedelta(days=1)


def test_escalations_to_agents_have_no_customer_and_are_never_capped():
    rule("escalation", caps_apply=True, max_per_period=1, min_gap=timedelta(days=1))
    for i in range(3):
        outbox_enqueue(
            [
                outbox_message(
                    key=f"loop:{i}:level:1", purpose="escalation", recipient="lead@x.io", now=MON
                )
            ]
        )
    assert outbox_deliver(now=MON).sent == 3


def test_a_survey_naming_no_customer_is_suppressed_by_the_rule_that_requires_one():
    survey = rule("survey", customer_required=True)
    outbox_enqueue([outbox_message(key="s", purpose="survey", recipient="a@x.io", now=MON)])
    assert outbox_deliver(now=MON).suppressed == 1
    m = OutboxMessage.objects.get()
    assert (m.status, m.rule, m.rule_check) == ("suppressed", survey, "no_customer")


def test_a_purpose_without_a_rule_is_sent(customer):
    assert send(customer, "x", at=MON, purpose="order-update").status == "sent"


def test_an_inactive_rule_is_not_applied(customer):
    rule("marketing", max_per_period=1, active=False)
    send(customer, "m1", at=MON, purpose="marketing")
    assert send(customer, "m2", at=MON, purpose="marketing").status == "sent"


# --- quiet hours in the customer's zone ------------------------------------------------------


def test_quiet_hours_hold_until_morning_in_the_customers_time_zone(customer):
    # Given a customer in New York and quiet hours 22:00-07:00
    rule("notification", quiet_start=time(22), quiet_end=time(7))
    customer.timezone = "America/New_York"
    customer.save()
    # When a notification is due at 03:00 UTC (22:00 in New York)
    held = send(customer, "n", at=MON.replace(hour=3), purpose="notification")
    # Then it waits until 07:00 in New York (12:00 UTC), and goes then
    assert (held.status, held.rule_check) == ("pending", "quiet_hours")
    assert held.next_attempt_at == MON.replace(hour=12)
    assert "America/New_York" in held.rule_reason
    assert outbox_deliver(now=MON.replace(hour=11, minute=59)).sent == 0
    assert outbox_deliver(now=MON.replace(hour=12)).sent == 1
    sent = OutboxMessage.objects.get(key="n")
    assert sent.status == "sent" and sent.rule_check == "quiet_hours"  # kept: why it waited


def test_without_a_customer_zone_the_messages_zone_then_the_default_is_used(customer, settings):
    rule("notification", quiet_start=time(22), quiet_end=time(7))
    at = MON.replace(hour=22, minute=30)  # 22:30 UTC, 07:30 in Tokyo, 23:30 in Paris
    assert (
        send(customer, "a", at=at, purpose="notification", data={"timezone": "Asia/Tokyo"}).status
        == "sent"
    )
    settings.TIME_ZONE = "Europe/Paris"
    held = send(customer, "b", at=at, purpose="notification")
    assert held.next_attempt_at == MON.replace(hour=6) + timedelta(days=1)  # 07:00 Paris


# --- who the message is for ------------------------------------------------------------------


def test_a_case_gives_the_customer_when_none_is_named(case):
    outbox_enqueue(
        [outbox_message(key="k", recipient="a@x.io", case=case, purpose="reply", now=MON)]
    )
    m = OutboxMessage.objects.get()
    assert (m.customer_id, m.case_id) == (case.customer_id, case.pk)


def test_a_merge_moves_the_customers_messages_and_their_history(customer, now):
    rule("survey", max_unanswered=1)
    merged = CustomerFactory()
    send(merged, "s1", at=MON)
    customer_merge(survivor=customer, merged=merged, now=now)
    assert send(customer, "s2", at=MON + timedelta(days=1)).rule_check == "max_unanswered"


# --- on the timeline -------------------------------------------------------------------------


def test_outbox_for_customer_lists_newest_first_with_the_rule(customer):
    rule("survey", max_unanswered=1)
    send(customer, "s1", at=MON)
    send(customer, "s2", at=MON + timedelta(days=1))
    rows = outbox_for_customer(customer=customer, viewer=SYSTEM)
    assert [(m.key, m.status, m.rule_check) for m in rows] == [
        ("s2", "suppressed", "max_unanswered"),
        ("s1", "sent", ""),
    ]
    assert outbox_for_customer(customer=CustomerFactory(), viewer=SYSTEM) == []


def test_the_customer_page_shows_outbound_messages_with_status_and_rule(
    client, alice, case, django_assert_max_num_queries
):
    rule("survey", max_unanswered=1)
    send(case.customer, "s1", at=MON, subject="How did we do?")
    send(case.customer, "s2", at=MON + timedelta(days=1), subject="Still there? Rate us")
    client.force_login(alice)
    with time_machine.travel(MON + timedelta(days=1), tick=False):
        page = client.get(f"/customers/{case.customer_id}/").content.decode()
    assert "Sent by lastmile" in page
    assert 'data-outbox-status="sent"' in page and "How did we do?" in page
    assert 'data-outbox-status="suppressed"' in page
    assert "Not sent — unanswered attempts (ask once) (rule “survey”)" in page


def test_an_outsider_does_not_see_the_customers_outbox(client, charlie, case):
    send(case.customer, "r", at=MON, purpose="reply", subject="Private reply")
    client.force_login(charlie)
    r = client.get(f"/customers/{case.customer_id}/")
    assert r.status_code == 404 and "Private reply" not in r.content.decode()
