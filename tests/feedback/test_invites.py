"""Invites under the one contact budget: the survey contact rule, across channels."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.channels.models import ContactRule, OutboxMessage
from lastmile.channels.services import outbox_enqueue, outbox_message
from lastmile.core.errors import Conflict, InvalidInput
from lastmile.feedback.models import Invite
from lastmile.feedback.services import invite_by_token, invite_create, response_record
from tests.feedback.factories import SurveyFactory

pytestmark = pytest.mark.django_db


def test_an_email_invite_is_queued_with_its_link_in_the_outbox(survey, asked, now):
    invite, token = invite_create(survey=survey, customer=asked, channel="email", now=now)

    assert invite.state == "queued" and invite.reason == ""
    message = OutboxMessage.objects.get(key=f"feedback:invite:{invite.pk}")
    assert message.purpose == "survey" and message.recipient == f"c{asked.pk}@example.com"
    assert f"/feedback/r/{token}/" in message.body
    assert invite_by_token(token) == invite


def test_the_token_is_stored_hashed_and_a_forged_one_opens_nothing(survey, asked, now):
    invite, token = invite_create(survey=survey, customer=asked, channel="link", now=now)

    assert token not in invite.token_hash and len(invite.token_hash) == 64
    assert invite_by_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert not OutboxMessage.objects.exists()  # a link is handed over, not sent


def test_a_second_survey_the_same_week_is_suppressed_with_the_rules_reason(
    survey, asked, team, now
):
    # Given a delivery survey sent yesterday by link, on another team's survey
    other = SurveyFactory(name="Delivery", team=team)
    invite_create(survey=other, customer=asked, channel="link", now=now - timedelta(days=1))

    # When the case survey asks today by email
    invite, _ = invite_create(survey=survey, customer=asked, channel="email", now=now)

    # Then it is suppressed, kept with the reason, and nothing is queued
    assert invite.state == "suppressed" and invite.rule_check == "max_unanswered"
    assert "got no answer" in invite.reason
    assert not OutboxMessage.objects.filter(key=f"feedback:invite:{invite.pk}").exists()


def test_an_answered_survey_still_counts_against_the_weekly_cap(survey, asked, now):
    first, _ = invite_create(survey=survey, customer=asked, channel="link", now=now)
    response_record(invite=first, score=9, now=now + timedelta(hours=1))

    second, _ = invite_create(
        survey=survey, customer=asked, channel="link", now=now + timedelta(days=2)
    )

    assert second.state == "suppressed" and second.rule_check == "max_per_period"


def test_after_the_period_a_customer_who_answered_is_asked_again(survey, asked, now):
    first, _ = invite_create(survey=survey, customer=asked, channel="link", now=now)
    response_record(invite=first, score=9, now=now + timedelta(hours=1))

    later, _ = invite_create(
        survey=survey, customer=asked, channel="link", now=now + timedelta(days=7, minutes=1)
    )

    assert later.state == "queued"


def test_an_email_invite_the_outbox_sent_counts_once(survey, asked, now):
    # Given a rule of two surveys a week, and an email invite the outbox sent yesterday
    ContactRule.objects.filter(purpose="survey").update(max_per_period=2, max_unanswered=None)
    first, _ = invite_create(
        survey=survey, customer=asked, channel="email", now=now - timedelta(days=1)
    )
    OutboxMessage.objects.filter(key=f"feedback:invite:{first.pk}").update(
        status="sent", sent_at=now - timedelta(days=1)
    )

    # When a second one asks: the invite and its message are one contact, not two
    second, _ = invite_create(survey=survey, customer=asked, channel="link", now=now)
    third, _ = invite_create(survey=survey, customer=asked, channel="link", now=now)

    assert (second.state, third.state) == ("queued", "suppressed")


def test_a_survey_another_sender_put_through_the_outbox_counts_too(survey, asked, now):
    # Given a delivery survey some other sender put through the outbox yesterday
    outbox_enqueue(
        [
            outbox_message(
                key="delivery-survey",
                purpose="survey",
                recipient="x@example.com",
                customer=asked,
                now=now - timedelta(days=1),
            )
        ]
    )
    OutboxMessage.objects.filter(key="delivery-survey").update(
        status="sent", sent_at=now - timedelta(days=1)
    )

    # When the case survey asks today
    invite, _ = invite_create(survey=survey, customer=asked, channel="link", now=now)

    # Then it is suppressed: one survey a week, whoever sent it
    assert invite.state == "suppressed"


def test_a_scope_all_rule_counts_other_outreach(survey, asked, now):
    # Given the survey rule counting every message, and a notification sent an hour ago
    ContactRule.objects.filter(purpose="survey").update(scope="all", max_unanswered=None)
    outbox_enqueue([outbox_message(key="note", recipient="x@example.com", customer=asked, now=now)])
    OutboxMessage.objects.filter(key="note").update(status="sent", sent_at=now - timedelta(hours=1))

    invite, _ = invite_create(survey=survey, customer=asked, channel="link", now=now)

    assert invite.state == "suppressed" and invite.rule_check == "max_per_period"


def test_quiet_hours_hold_an_invite_until_they_end(survey, asked, now):
    asked.timezone = "Europe/Paris"
    asked.save()
    late = now.replace(hour=21)  # 22:00 in Paris

    invite, _ = invite_create(survey=survey, customer=asked, channel="email", now=late)

    assert invite.state == "queued" and invite.rule_check == "quiet_hours"
    assert invite.held_until == (late + timedelta(days=1)).replace(hour=8)  # 09:00 Paris


def test_without_a_survey_rule_every_invite_is_queued(survey, asked, now):
    ContactRule.objects.filter(purpose="survey").delete()
    invite_create(survey=survey, customer=asked, channel="link", now=now)

    again, _ = invite_create(survey=survey, customer=asked, channel="link", now=now)

    assert again.state == "queued"


def test_an_email_invite_to_a_customer_without_an_address_is_refused(survey, customer, now):
    with pytest.raises(InvalidInput) as exc:
        invite_create(survey=survey, customer=customer, channel="email", now=now)
    assert exc.value.errors[0].field == "channel"
    assert not Invite.objects.exists()


def test_a_case_of_another_customer_is_refused(survey, asked, case, now):
    with pytest.raises(InvalidInput) as exc:
        invite_create(survey=survey, customer=asked, channel="link", case=case, now=now)
    assert exc.value.errors[0].field == "case" and not Invite.objects.exists()


def test_a_triggers_key_asks_once(survey, asked, now):
    invite_create(survey=survey, customer=asked, channel="link", key="case_solved:1", now=now)
    with pytest.raises(Conflict):
        invite_create(survey=survey, customer=asked, channel="link", key="case_solved:1", now=now)
    assert Invite.objects.count() == 1


def test_a_vip_rule_on_attributes_decides_a_vips_invite(survey, team, admin_user, now):
    from lastmile.channels.services import contact_rule_save
    from tests.feedback.factories import reachable_customer

    # Given a survey rule for VIPs (60 days between two surveys), and a VIP and another
    # customer each asked and answering 10 days ago
    contact_rule_save(
        rule=ContactRule(
            purpose="survey",
            attribute_key="vip",
            attribute_value="true",
            min_gap=timedelta(days=60),
        ),
        actor=admin_user,
        now=now,
    )
    vip = reachable_customer(attributes={"vip": True})
    other = reachable_customer()
    before = now - timedelta(days=10)
    for customer in (vip, other):
        first, _ = invite_create(survey=survey, customer=customer, channel="link", now=before)
        response_record(invite=first, score=9, now=before)

    # When both are asked today
    for_vip, _ = invite_create(survey=survey, customer=vip, channel="email", now=now)
    for_other, _ = invite_create(survey=survey, customer=other, channel="email", now=now)

    # Then the VIP's is held until 60 days after the last, the other's goes now
    assert (for_vip.rule_check, for_vip.held_until) == ("min_gap", before + timedelta(days=60))
    assert (for_other.rule_check, for_other.held_until) == ("", None)


def test_the_consoles_contact_preview_counts_a_link_invite_and_a_reminder(survey, asked, now):
    from lastmile.channels.selectors import contact_preview
    from lastmile.feedback.services import invites_follow, invites_remind
    from lastmile.people.viewers import SYSTEM

    # Given an email invite sent Monday and reminded Thursday (two a week allowed, no
    # ask-once), and nothing else
    ContactRule.objects.filter(purpose="survey").update(max_per_period=2, max_unanswered=None)
    invite, _ = invite_create(survey=survey, customer=asked, channel="email", now=now)
    OutboxMessage.objects.filter(key=f"feedback:invite:{invite.pk}").update(
        status="sent", sent_at=now
    )
    invites_follow(now=now)
    thursday = now + timedelta(days=3)
    assert invites_remind(now=thursday) == (1, 0)

    # When an agent looks before sending another survey on Friday
    preview = contact_preview(
        customer=asked, kind="survey", now=thursday + timedelta(days=1), viewer=SYSTEM
    )

    # Then the invite and its reminder are two survey contacts: the cap is reached
    assert preview.stopped and preview.decision.check == "max_per_period"
    kinds = [(c.kind, c.source) for c in preview.recent if c.source == "feedback"]
    assert kinds == [("survey reminder", "feedback")]  # the invite's message is the outbox's


def test_the_consoles_contact_preview_shows_a_link_invite(survey, asked, now):
    from lastmile.channels.selectors import contact_preview
    from lastmile.people.viewers import SYSTEM

    invite_create(survey=survey, customer=asked, channel="link", now=now - timedelta(hours=3))

    preview = contact_preview(customer=asked, kind="survey", now=now, viewer=SYSTEM)

    assert preview.stopped
    (shown,) = [c for c in preview.recent if c.source == "feedback"]
    assert (shown.kind, shown.channel, shown.team, shown.status) == (
        "survey",
        "link",
        survey.team.name,
        "queued",
    )


def test_a_key_used_for_another_customer_is_refused_by_the_unique_index(survey, asked, now):
    from tests.feedback.factories import reachable_customer

    invite_create(survey=survey, customer=asked, channel="link", key="case_solved:7", now=now)

    with pytest.raises(Conflict):
        invite_create(
            survey=survey,
            customer=reachable_customer(),
            channel="link",
            key="case_solved:7",
            now=now,
        )
    assert Invite.objects.filter(key="case_solved:7").count() == 1
