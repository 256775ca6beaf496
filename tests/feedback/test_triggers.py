"""Surveys fired by a solved case or a closed loop, once, in the transaction of that change."""

from __future__ import annotations

import pytest

from lastmile.cases.services import case_set_status
from lastmile.channels.models import OutboxMessage
from lastmile.feedback.models import Invite
from lastmile.feedback.services import response_record
from lastmile.loops.services import loop_close, loop_open
from tests.cases.factories import CaseFactory
from tests.customers.factories import IdentityFactory
from tests.feedback.factories import SurveyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def solved_survey(team):
    return SurveyFactory(name="Case solved", team=team, trigger="case_solved", channel="email")


def test_solving_a_case_asks_its_customer_by_email(solved_survey, case, now):
    IdentityFactory(customer=case.customer, kind="email", value="ana@example.com")

    case_set_status(case=case, status="solved", now=now)

    invite = Invite.objects.get()
    assert (invite.survey, invite.case, invite.state) == (solved_survey, case, "queued")
    assert invite.key == f"case_solved:{case.pk}"
    assert OutboxMessage.objects.get().recipient == "ana@example.com"


def test_solving_it_again_asks_no_second_time(solved_survey, case, now):
    IdentityFactory(customer=case.customer, kind="email", value="ana@example.com")
    case_set_status(case=case, status="solved", now=now)
    case_set_status(case=case, status="open", now=now)

    case_set_status(case=case, status="solved", now=now)

    assert Invite.objects.count() == 1


def test_another_teams_case_is_not_asked_unless_the_survey_is_for_all_teams(
    solved_survey, other_team, customer, now
):
    IdentityFactory(customer=customer, kind="email", value="ana@example.com")
    theirs = CaseFactory(customer=customer, team=other_team)
    case_set_status(case=theirs, status="solved", now=now)
    assert not Invite.objects.exists()

    solved_survey.all_teams = True
    solved_survey.save()
    case_set_status(case=theirs, status="open", now=now)
    case_set_status(case=theirs, status="solved", now=now)
    assert Invite.objects.count() == 1


def test_a_customer_who_cannot_be_reached_does_not_stop_the_case_being_solved(
    solved_survey, case, now
):
    case_set_status(case=case, status="solved", now=now)  # no email address: no invite
    case.refresh_from_db()
    assert case.status == "solved" and not Invite.objects.exists()


def test_closing_a_visit_loop_asks_the_loop_survey_and_the_survey_own_recovery_loop_does_not(
    team, asked, now
):
    visit_survey = SurveyFactory(
        name="After a visit",
        team=team,
        trigger="loop_closed",
        trigger_loop_kind="visit",
        channel="link",
    )
    SurveyFactory(
        name="After a recovery",
        team=team,
        trigger="loop_closed",
        trigger_loop_kind="recovery",
        channel="link",
    )
    visit = loop_open(customer=asked, kind="visit", title="Install", team=team, now=now)
    loop_close(loop=visit, now=now)
    invite = Invite.objects.get()
    assert invite.survey == visit_survey and invite.key == f"loop_closed:{visit.pk}"

    # a detractor's recovery loop, closed, does not ask the recovery survey
    response = response_record(invite=invite, score=2, now=now)
    loop_close(loop=response.recovery_loop, now=now)
    assert Invite.objects.count() == 1


def segment_message(n, kind, user="u1", **extra):  # type: ignore[no-untyped-def]
    return {"type": kind, "userId": user, "messageId": f"fb-{n}", **extra}


def test_a_segment_track_of_the_surveys_event_asks_that_person_once(team, now, send):
    survey = SurveyFactory(
        name="After an order", team=team, trigger="event", trigger_event="Order Completed"
    )
    send(
        segment_message(1, "identify", traits={"email": "zoe@example.com"}),
        segment_message(2, "track", event="Product Added"),
        segment_message(3, "track", event="Order Completed"),
    )

    invite = Invite.objects.get()
    assert invite.survey == survey and invite.key.startswith("event:")
    assert OutboxMessage.objects.get().recipient == "zoe@example.com"

    send(segment_message(3, "track", event="Order Completed"))  # the same message again
    assert Invite.objects.count() == 1


def test_the_ingest_pays_one_query_for_track_events_and_none_without(
    db, now, django_assert_num_queries
):
    from lastmile.customers.services.timeline import InteractionRow
    from lastmile.feedback.services import on_interactions_recorded

    track = InteractionRow(
        customer_id=1,
        channel="web",
        direction="inbound",
        occurred_at=now,
        data={"type": "track", "event": "Order Completed"},
        pk=1,
    )
    email = InteractionRow(customer_id=1, channel="email", direction="inbound", occurred_at=now)

    with django_assert_num_queries(1):
        on_interactions_recorded("interaction.recorded", [({"interaction": track}, now)])
    with django_assert_num_queries(0):
        on_interactions_recorded("interaction.recorded", [({"interaction": email}, now)])


def test_a_run_of_closed_loops_no_survey_wants_costs_one_query(db, now, django_assert_num_queries):
    from lastmile.feedback.services import on_loops_closed

    closed = [({"loop": n, "kind": "reply", "customer": n, "team": None}, now) for n in range(50)]
    with django_assert_num_queries(1):
        on_loops_closed("loop.closed", closed)
