"""Responses: one per invite, changeable for 24 hours, and every detractor a recovery loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lastmile.core.errors import Conflict, DomainError, InvalidInput
from lastmile.feedback.models import Invite, Response
from lastmile.feedback.services import invite_create, response_record
from lastmile.loops.models import BusinessHours, Loop, SlaPolicy
from lastmile.loops.selectors import loop_explain
from lastmile.webhooks.models import Delivery
from lastmile.webhooks.services.subscriptions import subscription_create
from tests.cases.factories import CaseFactory
from tests.feedback.factories import ReasonTagFactory, SurveyFactory
from tests.people.factories import TeamFactory

pytestmark = pytest.mark.django_db


def ask(survey, customer, now, **kw):  # type: ignore[no-untyped-def]
    return invite_create(survey=survey, customer=customer, channel="link", now=now, **kw)[0]


@pytest.fixture
def recovery_hours(team):
    """The team's recovery loops run on Berlin office hours, 09:00-17:00 on weekdays."""
    hours = BusinessHours.objects.create(
        name="Berlin office",
        timezone="Europe/Berlin",
        weekly={d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    )
    return SlaPolicy.objects.create(
        name="Recovery", kind="recovery", team=team, business_hours=hours, resolution_minutes=60
    )


def test_a_promoter_is_recorded_and_opens_no_loop(survey, asked, now):
    invite = ask(survey, asked, now)

    response = response_record(invite=invite, score=10, comment="Great", now=now)

    assert (response.band, response.detractor, response.recovery_loop) == ("promoter", False, None)
    assert Invite.objects.get(pk=invite.pk).state == "answered"
    assert not Loop.objects.exists()


@pytest.mark.parametrize(
    ("kind", "score", "band"),
    [
        ("nps", 0, "detractor"),
        ("nps", 6, "detractor"),
        ("nps", 7, "passive"),
        ("nps", 8, "passive"),
        ("nps", 9, "promoter"),
        ("csat", 2, "detractor"),
        ("csat", 3, "passive"),
        ("csat", 4, "promoter"),
        ("ces", 4, "passive"),
        ("ces", 5, "detractor"),
        ("ces", 7, "detractor"),
        ("ces", 3, "promoter"),
    ],
)
def test_bands_at_their_edges(team, asked, now, kind, score, band):
    survey = SurveyFactory(kind=kind, team=team, comment_question="")
    response = response_record(invite=ask(survey, asked, now), score=score, now=now)
    assert response.band == band
    assert (response.recovery_loop_id is not None) == (band == "detractor")


@pytest.mark.parametrize(("kind", "score"), [("nps", 11), ("nps", -1), ("csat", 0), ("ces", 8)])
def test_a_score_off_the_scale_is_refused_and_nothing_is_stored(team, asked, now, kind, score):
    survey = SurveyFactory(kind=kind, team=team)
    invite = ask(survey, asked, now)
    with pytest.raises(InvalidInput) as exc:
        response_record(invite=invite, score=score, now=now)
    assert exc.value.errors[0].field == "score"
    assert not Response.objects.exists() and Invite.objects.get(pk=invite.pk).state == "queued"


def test_a_detractor_opens_a_recovery_loop_on_the_case_owned_by_the_team_that_served_them(
    survey, asked, now, recovery_hours
):
    # Given a case of the back office, and the front office's survey about it
    served_by = TeamFactory(name="Back office", slug="back")
    SlaPolicy.objects.filter(pk=recovery_hours.pk).update(team=served_by)
    case = CaseFactory(customer=asked, team=served_by)
    invite = ask(survey, asked, now, case=case)

    # When the customer answers 3 on Monday 10:00 UTC (11:00 in Berlin)
    response = response_record(invite=invite, score=3, comment="Nobody called back", now=now)

    # Then a recovery loop on the case, the back office's, due in 2 business days
    loop = Loop.objects.get()
    assert response.recovery_loop == loop
    assert (loop.kind, loop.case, loop.team, loop.state) == ("recovery", case, served_by, "open")
    assert loop.due_at == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # Wednesday 11:00 Berlin
    assert "NPS 3" in loop.title and "Nobody called back" in loop.events.get().reason
    # and its explanation says why it is due then, not merely when the deadline was set
    assert loop_explain(loop, now=now) == (
        "due Wed 25 Nov 10:00 UTC: 2 business days on Back office's calendar (Berlin office)"
        ' after the answer (NPS 3 on After a case: "Nobody called back")'
    )


def test_without_a_case_the_loop_is_the_customers_and_the_surveys_team(survey, asked, team, now):
    response = response_record(invite=ask(survey, asked, now), score=1, now=now)

    loop = response.recovery_loop
    assert loop.customer == asked and loop.case is None and loop.team == team
    assert loop.due_at == now + timedelta(days=2)  # no business hours: 24/7
    assert loop_explain(loop, now=now) == (
        "due Wed 25 Nov 10:00 UTC: 2 days round the clock (no business hours for Front office's"
        " recovery) after the answer (NPS 1 on After a case)"
    )


def test_a_negative_comment_makes_a_passive_score_a_detractor(survey, asked, now):
    response = response_record(
        invite=ask(survey, asked, now),
        score=8,
        comment="This was terrible, awful service, I am very angry and disappointed.",
        now=now,
    )
    assert response.sentiment == "negative" and response.band == "passive"
    assert response.detractor and response.recovery_loop is not None


def test_an_invite_answered_twice_through_the_api_is_a_conflict(survey, asked, now):
    invite = ask(survey, asked, now)
    response_record(invite=invite, score=9, now=now, source="api")

    with pytest.raises(Conflict) as exc:
        response_record(invite=invite, score=2, now=now, source="api")

    assert exc.value.errors[0].field == "invite"
    assert Response.objects.get().score == 9 and not Loop.objects.exists()


def test_the_link_changes_an_answer_within_24_hours_and_the_loop_opens_once(survey, asked, now):
    invite = ask(survey, asked, now)
    response_record(invite=invite, score=2, now=now, change=True)
    response_record(invite=invite, score=4, now=now + timedelta(hours=1), change=True)

    changed = Response.objects.get()
    assert changed.score == 4 and changed.changed_at == now + timedelta(hours=1)
    assert Loop.objects.count() == 1


def test_a_detractor_changed_to_a_promoter_cancels_the_open_recovery_loop(survey, asked, now):
    invite = ask(survey, asked, now)
    first = response_record(invite=invite, score=3, now=now)
    loop = first.recovery_loop
    assert loop.state == "open" and "NPS 3" in loop.title

    changed = response_record(invite=invite, score=9, now=now + timedelta(hours=1), change=True)

    loop.refresh_from_db()
    assert loop.state == "cancelled"
    assert loop.events.filter(kind="cancelled").get().reason == (
        "Answer changed to NPS 9 (promoter): no longer a detractor"
    )
    assert changed.recovery_loop is None
    assert Response.objects.get().recovery_loop_id is None
    assert Loop.objects.filter(state="open").count() == 0


def test_a_promoter_changed_to_a_detractor_opens_the_loop_once(survey, asked, now):
    invite = ask(survey, asked, now)
    response_record(invite=invite, score=9, now=now)
    assert not Loop.objects.exists()

    changed = response_record(invite=invite, score=3, now=now + timedelta(hours=1), change=True)
    response_record(invite=invite, score=2, now=now + timedelta(hours=2), change=True)

    loop = Loop.objects.get()
    assert loop.state == "open" and loop.kind == "recovery" and "NPS 3" in loop.title
    assert Response.objects.get().recovery_loop_id == changed.recovery_loop_id == loop.pk


def test_a_detractor_changed_away_and_back_gets_a_fresh_loop(survey, asked, now):
    invite = ask(survey, asked, now)
    response_record(invite=invite, score=3, now=now)
    response_record(invite=invite, score=9, now=now + timedelta(hours=1), change=True)
    again = response_record(invite=invite, score=1, now=now + timedelta(hours=2), change=True)

    assert sorted(Loop.objects.values_list("state", flat=True)) == ["cancelled", "open"]
    assert again.recovery_loop.state == "open" and "NPS 1" in again.recovery_loop.title


def test_a_change_after_24_hours_is_refused(survey, asked, now):
    invite = ask(survey, asked, now)
    response_record(invite=invite, score=9, now=now, change=True)

    response_record(invite=invite, score=8, now=now + timedelta(hours=23, minutes=59), change=True)
    with pytest.raises(Conflict):
        response_record(invite=invite, score=2, now=now + timedelta(hours=24), change=True)

    assert Response.objects.get().score == 8


def test_a_suppressed_or_expired_invite_takes_no_answer(survey, asked, now):
    first = ask(survey, asked, now)
    suppressed = ask(survey, asked, now)
    assert suppressed.state == "suppressed"
    with pytest.raises(DomainError) as exc:
        response_record(invite=suppressed, score=9, now=now)
    assert exc.value.status == 410
    with pytest.raises(DomainError) as exc:
        response_record(invite=first, score=9, now=first.expires_at)
    assert exc.value.status == 410 and not Response.objects.exists()


def test_a_comment_is_tagged_with_the_reason_its_words_suggest(survey, asked, now):
    ReasonTagFactory(name="Late delivery", keywords="late, delay")
    response = response_record(
        invite=ask(survey, asked, now), score=7, comment="The parcel came with a delay", now=now
    )
    assert response.reason.name == "Late delivery"


def test_webhooks_hear_survey_responded_and_survey_detractor(
    survey, asked, team, now, django_capture_on_commit_callbacks
):
    subscription_create(
        name="crm", url="https://crm.example.com/hook", events=["survey.*"], team=team, now=now
    )
    with django_capture_on_commit_callbacks():
        response = response_record(invite=ask(survey, asked, now), score=5, now=now)

    events = {d.event: d.payload["data"] for d in Delivery.objects.all()}
    assert set(events) == {"survey.responded", "survey.detractor"}
    assert events["survey.detractor"]["loop"] == response.recovery_loop_id
    assert (
        events["survey.responded"]["score"] == 5 and events["survey.responded"]["team"] == team.pk
    )
