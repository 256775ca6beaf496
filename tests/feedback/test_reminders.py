"""One reminder for an unanswered invite, through the outbox and the one contact budget."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from lastmile.channels.models import ContactRule, OutboxMessage
from lastmile.channels.services import outbox_deliver, outbox_enqueue, outbox_message
from lastmile.feedback.models import Invite
from lastmile.feedback.services import (
    invite_by_token,
    invite_create,
    invites_follow,
    invites_remind,
    response_record,
)
from tests.feedback.factories import SurveyFactory, reachable_customer

pytestmark = pytest.mark.django_db

HOURS = 72


def sent_invite(survey, customer, at):  # type: ignore[no-untyped-def]
    """An email invite made and sent (as the outbox and ``invites_follow`` mark it) at ``at``."""
    invite, _ = invite_create(survey=survey, customer=customer, channel="email", now=at)
    OutboxMessage.objects.filter(key=f"feedback:invite:{invite.pk}").update(
        status="sent", sent_at=at
    )
    invites_follow(now=at)
    invite.refresh_from_db()
    assert invite.state == "sent"
    return invite


def reminder_of(invite):  # type: ignore[no-untyped-def]
    return OutboxMessage.objects.filter(key=f"feedback:reminder:{invite.pk}").first()


def test_a_sent_unanswered_invite_is_reminded_once_after_its_hours(survey, asked, now):
    invite = sent_invite(survey, asked, now)
    due = now + timedelta(hours=HOURS)

    # The minute before: nothing; the minute of: one reminder, queued in the outbox
    assert invites_remind(now=due - timedelta(minutes=1)) == (0, 0)
    assert invites_remind(now=due) == (1, 0)
    invite.refresh_from_db()
    assert (invite.reminder_state, invite.reminded_at) == ("queued", due)
    message = reminder_of(invite)
    assert message.purpose == "survey_reminder" and message.recipient == f"c{asked.pk}@example.com"
    assert message.subject == "A reminder: one question"
    assert "We asked you a few days ago" in message.body

    # Run again, and later: never a second one
    assert invites_remind(now=due) == (0, 0)
    assert invites_remind(now=due + timedelta(days=3)) == (0, 0)
    assert OutboxMessage.objects.filter(key__startswith="feedback:reminder:").count() == 1


def test_the_reminder_is_worded_in_the_customers_language(team, now):
    survey = SurveyFactory(
        team=team,
        wording={
            "fr": {
                "question": "Nous recommanderiez-vous ?",
                "reminder": "Nous vous avons écrit il y a quelques jours.",
                "reminder_subject": "Rappel : une question",
            }
        },
    )
    customer = reachable_customer(attributes={"language": "fr"})
    invite = sent_invite(survey, customer, now)

    invites_remind(now=now + timedelta(hours=HOURS))

    message = reminder_of(invite)
    assert message.subject == "Rappel : une question"
    assert "Nous vous avons écrit il y a quelques jours." in message.body
    assert "Nous recommanderiez-vous ?" in message.body


def test_the_reminders_link_opens_the_same_invite_and_takes_the_answer(survey, asked, now):
    invite = sent_invite(survey, asked, now)
    invites_remind(now=now + timedelta(hours=HOURS))

    token = re.search(r"/feedback/r/([^/]+)/", reminder_of(invite).body).group(1)

    assert invite_by_token(token) == invite
    response_record(invite=invite, score=10, now=now + timedelta(hours=HOURS + 1))
    assert Invite.objects.get(pk=invite.pk).state == "answered"


def test_a_reminder_is_suppressed_when_another_survey_reached_the_customer(survey, asked, now):
    # Given an invite sent on Monday, and a delivery survey another sender's outbox message
    # brought the customer on Wednesday
    invite = sent_invite(survey, asked, now)
    outbox_enqueue(
        [
            outbox_message(
                key="delivery-survey",
                purpose="survey",
                recipient="x@example.com",
                customer=asked,
                now=now + timedelta(days=2),
            )
        ]
    )
    OutboxMessage.objects.filter(key="delivery-survey").update(
        status="sent", sent_at=now + timedelta(days=2)
    )

    # When the reminder is due
    assert invites_remind(now=now + timedelta(hours=HOURS)) == (0, 1)

    # Then it is suppressed, recorded with the rule's reason, and never tried again
    invite.refresh_from_db()
    assert invite.reminder_state == "suppressed"
    assert invite.reminder_check in ("max_unanswered", "max_per_period")
    assert invite.reminder_reason
    assert reminder_of(invite) is None
    assert invites_remind(now=now + timedelta(days=6)) == (0, 0)


def test_a_reminder_counts_against_the_budget(survey, asked, team, now):
    # Given two surveys a week allowed, whatever went unanswered
    ContactRule.objects.filter(purpose="survey").update(max_per_period=2, max_unanswered=None)
    sent_invite(survey, asked, now)
    invites_remind(now=now + timedelta(hours=HOURS))

    # When another team's survey asks the next day: the invite and the reminder are two
    other = SurveyFactory(name="Delivery", team=team)
    later, _ = invite_create(
        survey=other, customer=asked, channel="link", now=now + timedelta(hours=HOURS + 24)
    )

    assert later.state == "suppressed" and later.rule_check == "max_per_period"


def test_without_the_reminder_the_same_ask_would_pass(survey, asked, team, now):
    # The control of the test above: no reminder, and the other survey is queued.
    ContactRule.objects.filter(purpose="survey").update(max_per_period=2, max_unanswered=None)
    survey.remind_after_hours = 0
    survey.save()
    sent_invite(survey, asked, now)
    assert invites_remind(now=now + timedelta(hours=HOURS)) == (0, 0)

    other = SurveyFactory(name="Delivery", team=team)
    later, _ = invite_create(
        survey=other, customer=asked, channel="link", now=now + timedelta(hours=HOURS + 24)
    )

    assert later.state == "queued"


def test_answered_expired_and_link_invites_are_not_reminded(survey, asked, now):
    answered = sent_invite(survey, asked, now)
    response_record(invite=answered, score=9, now=now + timedelta(hours=1))
    short = SurveyFactory(name="Short", team=survey.team, invite_days=2)
    expired = sent_invite(short, reachable_customer(), now)
    link, _ = invite_create(survey=survey, customer=reachable_customer(), channel="link", now=now)

    assert invites_remind(now=now + timedelta(hours=HOURS)) == (0, 0)
    assert not OutboxMessage.objects.filter(key__startswith="feedback:reminder:").exists()
    assert {
        i.reminder_state for i in Invite.objects.filter(pk__in=[answered.pk, expired.pk, link.pk])
    } == {""}


def test_quiet_hours_hold_the_reminder_until_they_end(survey, asked, now):
    asked.timezone = "Europe/Paris"
    asked.save()
    invite = sent_invite(survey, asked, now)
    late = (now + timedelta(days=3)).replace(hour=21)  # 22:00 in Paris, past the 72 hours
    held = (late + timedelta(days=1)).replace(hour=8)  # 09:00 Paris

    # At 22:00 Paris nothing is queued: the reminder waits for the morning
    assert invites_remind(now=late) == (0, 0)
    invite.refresh_from_db()
    assert (invite.reminder_state, invite.reminded_at) == ("", held)
    assert invite.reminder_check == "quiet_hours" and reminder_of(invite) is None

    # The minute before 09:00 still nothing; at 09:00 it is queued
    assert invites_remind(now=held - timedelta(minutes=1)) == (0, 0)
    assert invites_remind(now=held) == (1, 0)
    invite.refresh_from_db()
    assert (invite.reminder_state, invite.reminded_at) == ("queued", held)
    assert reminder_of(invite).next_attempt_at == held


def test_an_answer_given_while_the_reminder_is_held_means_no_reminder(survey, asked, now):
    asked.timezone = "Europe/Paris"
    asked.save()
    invite = sent_invite(survey, asked, now)
    late = (now + timedelta(days=3)).replace(hour=21)
    invites_remind(now=late)

    response_record(invite=invite, score=9, now=late + timedelta(hours=10))  # 08:00 Paris

    assert invites_remind(now=late + timedelta(hours=12)) == (0, 0)
    assert reminder_of(invite) is None
    assert Invite.objects.get(pk=invite.pk).reminder_state == ""


def test_a_reminder_the_outbox_sent_is_marked_sent(survey, asked, now, smtp_sink):
    invite = sent_invite(survey, asked, now)
    due = now + timedelta(hours=HOURS)
    invites_remind(now=due)

    outbox_deliver(now=due)
    invites_remind(now=due)  # follows the queued reminders first

    invite.refresh_from_db()
    assert invite.reminder_state == "sent"
    assert len(smtp_sink.envelopes) == 1
    assert "A reminder: one question" in smtp_sink.envelopes[0].content.decode()


def test_a_reminder_the_outbox_could_not_deliver_no_longer_counts(survey, asked, now):
    invite = sent_invite(survey, asked, now)
    invites_remind(now=now + timedelta(hours=HOURS))
    OutboxMessage.objects.filter(key=f"feedback:reminder:{invite.pk}").update(
        status="failed", last_error="550 no such user\nmore"
    )

    invites_remind(now=now + timedelta(hours=HOURS, minutes=1))

    invite.refresh_from_db()
    assert invite.reminder_state == "suppressed" and invite.reminder_check == "undelivered"
    assert invite.reminder_reason.endswith("550 no such user")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_reminding_at_once_remind_once(now):
    import threading
    from importlib import import_module

    from django.db import connections

    from tests.people.factories import TeamFactory

    # A transactional test runs on tables another one may have emptied: the seeded rule.
    seeded = import_module("lastmile.channels.migrations.0004_contact_rules_seed")
    (spec,) = [r for r in seeded.RULES if r["purpose"] == "survey"]
    ContactRule.objects.update_or_create(
        purpose="survey", defaults={k: v for k, v in spec.items() if k != "purpose"}
    )
    survey = SurveyFactory(team=TeamFactory(slug="front"))
    invites = [sent_invite(survey, reachable_customer(), now) for _ in range(3)]
    due = now + timedelta(hours=HOURS)
    start = threading.Barrier(2)
    errors: list[Exception] = []

    def run() -> None:
        try:
            start.wait()
            invites_remind(now=due)
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
    assert OutboxMessage.objects.filter(key__startswith="feedback:reminder:").count() == 3
    assert {i.reminder_state for i in Invite.objects.filter(pk__in=[i.pk for i in invites])} == {
        "queued"
    }
    # Reminded once each: the link in the one message sent opens its invite (a second
    # reminder would have replaced the link's hash under the message already queued).
    for invite in invites:
        token = re.search(r"/feedback/r/([^/]+)/", reminder_of(invite).body).group(1)
        assert invite_by_token(token) == invite
