"""The relationship survey on a schedule: every N days per customer, through the one contact
budget, in batches, asked once however many runs there are."""

from __future__ import annotations

import threading
from datetime import timedelta
from importlib import import_module

import pytest
from django.db import connections

from lastmile.channels.models import ContactRule, OutboxMessage
from lastmile.customers.models import Interaction
from lastmile.feedback.models import Invite
from lastmile.feedback.services import invite_create, response_record, surveys_schedule_run
from tests.customers.factories import CustomerFactory
from tests.feedback.factories import SurveyFactory, reachable_customer
from tests.people.factories import TeamFactory

pytestmark = pytest.mark.django_db

EVERY = 90


def in_touch(customer, now):  # type: ignore[no-untyped-def]
    """The customer wrote to us a month before ``now``."""
    Interaction.objects.create(
        customer=customer,
        channel="email",
        direction="inbound",
        occurred_at=now - timedelta(days=30),
        recorded_at=now - timedelta(days=30),
        body="Hello",
    )
    return customer


@pytest.fixture
def relationship(team):  # type: ignore[no-untyped-def]
    return SurveyFactory(name="Relationship NPS", trigger="schedule", every_days=EVERY, team=team)


def test_a_schedule_survey_asks_each_reachable_customer_in_touch(relationship, now):
    # Given one customer with an address who was in touch, one never in touch, one with no
    # address, and one merged into another
    asked = in_touch(reachable_customer(), now)
    reachable_customer()  # never in touch
    in_touch(CustomerFactory(), now)  # no email address
    merged = in_touch(reachable_customer(), now)
    merged.merged_into = asked
    merged.save()

    # When the schedule runs
    assert surveys_schedule_run(now=now) == (1, 0)

    # Then only the first is asked, by email through the outbox, keyed by customer and day
    invite = Invite.objects.get()
    assert (invite.customer_id, invite.state, invite.channel) == (asked.pk, "queued", "email")
    assert invite.key == f"schedule:{asked.pk}:2026-11-23"
    assert OutboxMessage.objects.filter(key=f"feedback:invite:{invite.pk}").exists()


def test_running_twice_the_same_minute_asks_once(relationship, now):
    in_touch(reachable_customer(), now)

    assert surveys_schedule_run(now=now) == (1, 0)
    assert surveys_schedule_run(now=now) == (0, 0)
    assert surveys_schedule_run(now=now + timedelta(seconds=30)) == (0, 0)

    assert Invite.objects.count() == 1 and OutboxMessage.objects.count() == 1


def test_a_customer_is_asked_again_every_n_days_not_sooner(relationship, now):
    # Given a customer the schedule asked, who answered
    in_touch(reachable_customer(), now)
    surveys_schedule_run(now=now)
    response_record(invite=Invite.objects.get(), score=9, now=now + timedelta(hours=2))

    # Then the minute before N days later nothing is asked, and the minute of it they are
    again = now + timedelta(days=EVERY)
    assert surveys_schedule_run(now=again - timedelta(minutes=1)) == (0, 0)
    assert surveys_schedule_run(now=again) == (1, 0)
    assert Invite.objects.count() == 2


def test_an_inactive_schedule_survey_asks_nobody(relationship, now):
    relationship.active = False
    relationship.save()
    in_touch(reachable_customer(), now)

    assert surveys_schedule_run(now=now) == (0, 0)
    assert not Invite.objects.exists()


def test_a_portal_schedule_needs_no_address(team, now):
    SurveyFactory(trigger="schedule", every_days=EVERY, channel="portal", team=team)
    customer = in_touch(CustomerFactory(), now)

    assert surveys_schedule_run(now=now) == (1, 0)
    assert Invite.objects.get().customer_id == customer.pk
    assert not OutboxMessage.objects.exists()


def test_an_sms_schedule_asks_customers_with_a_phone_number_only(team, now):
    SurveyFactory(trigger="schedule", every_days=EVERY, channel="sms", team=team)
    in_touch(reachable_customer(), now)  # email only

    # No SMS integration is on: nobody can be asked, and nothing is written
    assert surveys_schedule_run(now=now) == (0, 0)
    assert not Invite.objects.exists()


def test_the_schedule_goes_through_the_contact_budget_and_retries_a_week_later(
    relationship, team, now
):
    # Given a customer a delivery survey asked yesterday, unanswered
    customer = in_touch(reachable_customer(), now)
    delivery = SurveyFactory(name="Delivery", team=team)
    invite_create(survey=delivery, customer=customer, channel="link", now=now - timedelta(days=1))

    # When the schedule runs, its ask is suppressed, kept with the rule's reason
    assert surveys_schedule_run(now=now) == (0, 1)
    ask = Invite.objects.get(survey=relationship)
    assert ask.state == "suppressed" and ask.rule_check == "max_unanswered"
    assert not OutboxMessage.objects.filter(key=f"feedback:invite:{ask.pk}").exists()

    # Then it is not tried every minute, only a week later
    assert surveys_schedule_run(now=now + timedelta(minutes=1)) == (0, 0)
    assert surveys_schedule_run(now=now + timedelta(days=7, minutes=-1)) == (0, 0)
    response_record(
        invite=Invite.objects.get(survey=delivery), score=8, now=now + timedelta(days=2)
    )
    assert surveys_schedule_run(now=now + timedelta(days=10)) == (1, 0)
    assert Invite.objects.filter(survey=relationship).count() == 2


def test_a_run_asks_a_batch_and_the_next_run_the_rest(relationship, now):
    customers = [in_touch(reachable_customer(), now) for _ in range(3)]

    assert surveys_schedule_run(now=now, batch_size=2) == (2, 0)
    assert surveys_schedule_run(now=now, batch_size=2) == (1, 0)
    assert surveys_schedule_run(now=now, batch_size=2) == (0, 0)

    assert sorted(Invite.objects.values_list("customer_id", flat=True)) == [c.pk for c in customers]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"trigger": "schedule"}, "every_days"),
        ({"trigger": "schedule", "every_days": 0}, "every_days"),
        ({"trigger": "schedule", "every_days": 90, "channel": "link"}, "channel"),
        ({"remind_after_hours": -1}, "remind_after_hours"),
    ],
)
def test_a_bad_schedule_survey_is_a_422_naming_the_field(api, team, body, field):
    r = api.post("/surveys", {"name": "Relationship", "kind": "nps", "team": "front", **body})

    assert r.status_code == 422, r.content
    assert any(field in str(e["field"]) for e in r.json()["errors"])


def test_a_schedule_survey_is_created_through_the_api(api, team):
    r = api.post(
        "/surveys",
        {
            "name": "Relationship",
            "kind": "nps",
            "team": "front",
            "trigger": "schedule",
            "every_days": 90,
        },
    )

    assert r.status_code == 201
    assert (r.json()["trigger"], r.json()["every_days"]) == ("schedule", 90)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_schedule_at_once_ask_each_customer_once(now):
    # A transactional test runs on tables another one may have emptied: the seeded rule.
    seeded = import_module("lastmile.channels.migrations.0004_contact_rules_seed")
    (spec,) = [r for r in seeded.RULES if r["purpose"] == "survey"]
    ContactRule.objects.update_or_create(
        purpose="survey", defaults={k: v for k, v in spec.items() if k != "purpose"}
    )
    SurveyFactory(trigger="schedule", every_days=EVERY, team=TeamFactory(slug="front"))
    for _ in range(5):
        in_touch(reachable_customer(), now)
    start = threading.Barrier(2)
    errors: list[Exception] = []

    def run() -> None:
        try:
            start.wait()
            surveys_schedule_run(now=now)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == [] and not any(t.is_alive() for t in threads)
    assert Invite.objects.count() == 5
    assert OutboxMessage.objects.count() == 5
