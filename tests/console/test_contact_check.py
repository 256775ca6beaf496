"""Before an agent phones or messages a customer, the console shows the customer's recent
contacts (every channel and team) and warns when the next call, message or survey would break
the contact policy now, naming the rule and when it would be allowed.

The decision is the outbox's own (``channels.contact.contact_decide``), read through
``channels.selectors.contact_preview``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import import_module

import pytest
import time_machine

from lastmile.channels import selectors as channel_selectors
from lastmile.channels.models import ContactRule
from lastmile.channels.selectors import RecentContact, contact_preview, contact_previews
from lastmile.channels.services import outbox_deliver, outbox_enqueue, outbox_message
from lastmile.customers.services.timeline import interaction_record
from lastmile.people.viewers import SYSTEM
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db

MON = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def contact_rules(db):
    """The seeded rules, seeded again: a transactional test before this one emptied the table."""
    from django.apps import apps

    import_module("lastmile.channels.migrations.0004_contact_rules_seed").seed(apps, None)


def call(customer, at, *, case=None, actor=None):
    """An agent's phone call, logged on the timeline (lastmile does not place calls)."""
    return interaction_record(
        customer=customer,
        case=case,
        channel="phone",
        direction="outbound",
        occurred_at=at,
        now=at,
        body="Called about the survey",
        actor=actor,
        data={"delivery": "logged"},
    )


def sent(customer, key, *, at, purpose="survey", case=None, channel="email"):
    outbox_enqueue(
        [
            outbox_message(
                key=key,
                purpose=purpose,
                channel=channel,
                recipient="ann@example.com",
                subject=f"{purpose} {key}",
                customer=customer,
                case=case,
                now=at,
            )
        ]
    )
    outbox_deliver(now=at)


def page(client, user, url, at):
    client.force_login(user)
    with time_machine.travel(at, tick=False):
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


# --- the "survey caller rang three times" scene ------------------------------------------------


def test_a_fourth_call_after_three_unanswered_is_warned_naming_the_rule(client, alice, case):
    # Given: three calls today, none answered (the seeded callback rule: at most 3 unanswered)
    for hours in (0, 2, 4):
        call(case.customer, MON - timedelta(hours=6) + timedelta(hours=hours), case=case)
    # When: the agent opens the case two hours after the last call
    html = page(client, alice, f"/cases/{case.ref}/", MON)
    # Then: the call is stopped by the callback rule, and the page says why and until when
    assert 'data-contact-warning="call"' in html
    assert "Call now would break the contact rule “callback”" in html
    assert "3 callback messages got no answer and they never wrote" in html
    assert "Not again until they write or answer." in html
    # and a survey or a message is still allowed
    assert 'data-contact-warning="survey"' not in html
    assert 'data-contact-kind="survey" data-ok="yes"' in html


def test_a_call_is_allowed_again_once_the_customer_wrote(client, alice, case):
    for hours in (0, 2, 4):
        call(case.customer, MON - timedelta(hours=6) + timedelta(hours=hours), case=case)
    interaction_record(
        customer=case.customer,
        case=case,
        channel="sms",
        direction="inbound",
        occurred_at=MON - timedelta(minutes=30),
        now=MON - timedelta(minutes=30),
        body="Sorry, I was at work. Call me now.",
    )
    html = page(client, alice, f"/cases/{case.ref}/", MON)
    assert 'data-contact-warning="call"' not in html
    assert 'data-contact-kind="call" data-ok="yes"' in html


def test_quiet_hours_in_the_customers_zone_hold_every_kind_until_their_morning(client, alice, team):
    # Given: a customer in Paris; it is 21:30 there (20:30 UTC)
    customer = CaseFactory(customer=CustomerFactory(timezone="Europe/Paris"), team=team).customer
    at = datetime(2026, 11, 23, 20, 30, tzinfo=UTC)
    # When: the agent opens the customer's page
    html = page(client, alice, f"/customers/{customer.pk}/", at)
    # Then: a call and a survey would be held until 09:00 Paris (08:00 UTC), a message
    # (notifications: quiet from 22:00) may still go
    assert 'data-contact-warning="call" data-check="quiet_hours" data-outcome="defer"' in html
    assert 'data-contact-warning="survey" data-check="quiet_hours"' in html
    assert 'data-contact-warning="message"' not in html
    assert 'datetime="2026-11-24T08:00:00+00:00"' in html
    assert "Tue 24 Nov 2026, 09:00 CET</time> their time (Europe/Paris)" in html


def test_the_warning_is_on_the_customer_page_too_and_absent_when_nothing_holds(client, alice, team):
    customer = CaseFactory(customer=CustomerFactory(timezone="UTC"), team=team).customer
    html = page(client, alice, f"/customers/{customer.pk}/", MON)
    assert "Before you contact them" in html
    assert "data-contact-warning=" not in html
    assert html.count('data-ok="yes"') == 3
    assert "No contact yet." in html


# --- recent contacts ---------------------------------------------------------------------------


def test_recent_contacts_list_every_channel_and_team_newest_first(client, alice, team, other_team):
    # Given: a survey by another team's case yesterday, a call by ours this morning, and an
    # email reply (an outbox message and its timeline row: one contact)
    customer = CustomerFactory(timezone="UTC")
    theirs = CaseFactory(customer=customer, team=other_team)
    ours = CaseFactory(customer=customer, team=team)
    sent(customer, "survey-1", at=MON - timedelta(days=1), case=theirs)
    call(customer, MON - timedelta(hours=2), case=ours, actor=alice)
    reply_at = MON - timedelta(hours=1)
    interaction_record(
        customer=customer,
        case=ours,
        channel="email",
        direction="outbound",
        occurred_at=reply_at,
        now=reply_at,
        body="Here is your answer",
        actor=alice,
    )
    sent(customer, "reply-1", at=reply_at, purpose="reply", case=ours)
    # When
    previews = contact_previews(customer=customer, now=MON, viewer=alice)
    recent = previews[0].recent
    # Then: three contacts, newest first, with their channel, team and kind
    assert [(c.kind, c.channel, c.team, c.source) for c in recent] == [
        ("reply", "email", "Front office", "outbox"),
        ("call", "phone", "Front office", "timeline"),
        ("survey", "email", "Back office", "outbox"),
    ]
    html = page(client, alice, f"/cases/{ours.ref}/", MON)
    assert html.count('data-contact-source="') == 3
    assert (
        html.index('data-kind="reply"')
        < html.index('data-kind="call"')
        < html.index('data-kind="survey"')
    )
    # the other team's survey counts: a survey now would break the weekly cap and ask-once
    assert 'data-contact-warning="survey" data-check="max_unanswered"' in html


def test_a_weekly_cap_says_when_a_survey_is_allowed_again():
    # Given: one survey a week, ask once off (the customer answered long ago)
    rule = ContactRule.objects.get(purpose="survey", attribute_key="")
    rule.max_unanswered = None
    rule.quiet_start = rule.quiet_end = None
    rule.save()
    customer = CustomerFactory(timezone="UTC")
    sent(customer, "s1", at=MON - timedelta(days=2))
    # When
    preview = contact_preview(customer=customer, kind="survey", now=MON, viewer=SYSTEM)
    # Then
    assert (preview.decision.outcome.value, preview.decision.check) == (
        "suppress",
        "max_per_period",
    )
    assert preview.allowed_at == MON + timedelta(days=5)
    assert preview.rule is not None and preview.rule.id == rule.pk


def test_a_vip_rule_is_the_one_the_preview_applies(admin_user, now):
    from lastmile.channels.services import contact_rule_save

    vip = contact_rule_save(
        rule=ContactRule(
            purpose="survey",
            attribute_key="vip",
            attribute_value="true",
            period=timedelta(days=7),
            min_gap=timedelta(days=60),
        ),
        actor=admin_user,
        now=now,
    )
    customer = CustomerFactory(timezone="UTC", attributes={"vip": True})
    sent(customer, "s1", at=MON - timedelta(days=10))
    preview = contact_preview(customer=customer, kind="survey", now=MON, viewer=SYSTEM)
    assert (preview.decision.rule, preview.decision.check) == ("survey for vip=true", "min_gap")
    assert preview.rule is not None and preview.rule.id == vip.pk
    assert preview.allowed_at == MON + timedelta(days=50)


def test_a_registered_source_adds_contacts_kept_outside_the_outbox(monkeypatch):
    # Given: a source (as feedback registers its link and portal invites)
    customer = CustomerFactory(timezone="UTC")
    link_invite = RecentContact(
        at=MON - timedelta(hours=3),
        kind="survey",
        channel="link",
        purpose="survey",
        source="feedback",
    )
    monkeypatch.setattr(channel_selectors, "_contact_sources", {})
    channel_selectors.contact_source_register(
        "feedback", lambda pk: ([link_invite] if pk == customer.pk else [], None)
    )
    # When
    preview = contact_preview(customer=customer, kind="survey", now=MON, viewer=SYSTEM)
    # Then: it is listed and counted (ask once: one unanswered survey)
    assert preview.recent == (link_invite,)
    assert preview.decision.check == "max_unanswered"


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown contact kinds"):
        contact_preview(customer=CustomerFactory(), kind="fax", now=MON, viewer=SYSTEM)


def test_an_outsider_gets_no_customer_page_and_no_contacts(client, charlie, case):
    call(case.customer, MON - timedelta(hours=1), case=case)
    client.force_login(charlie)
    response = client.get(f"/customers/{case.customer_id}/")
    assert response.status_code == 404
    assert "Before you contact them" not in response.content.decode()
