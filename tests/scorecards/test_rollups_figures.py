"""The rollups' figures beside the loops, by hand: promises broken, CSAT and NPS, sentiment
and deliveries on time, each counted in the week of its own instant and for its own team,
with the rows either side of a week's edge and of the other team left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lastmile.customers.models import Interaction
from lastmile.feedback.models import Band, Invite, Response
from lastmile.jobs.models import Job, Slot
from lastmile.promises.models import Promise
from lastmile.scorecards.models import TeamWeekRollup
from lastmile.scorecards.rollups import figures, rollups_rebuild, week_of, week_start
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory
from tests.feedback.factories import SurveyFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)  # a Wednesday
THIS = week_start(week_of(NOW))  # Monday 23 November, 00:00 UTC
LAST = THIS - timedelta(weeks=1)
EDGE = timedelta(seconds=1)


def promise(team, customer, *, state, at):  # type: ignore[no-untyped-def]
    return Promise.objects.create(
        customer=customer,
        text="a refund",
        channel="email",
        team=team,
        made_by_name="Ana",
        made_at=at - timedelta(days=3),
        due_at=at,
        recorded_via="test",
        state=state,
        outcome_at=at,
    )


def answer(case, survey, score, band, at, n=[0]):  # type: ignore[no-untyped-def]  # noqa: B006
    n[0] += 1
    invite = Invite.objects.create(
        survey=survey,
        customer=case.customer,
        case=case,
        channel="email",
        state="answered",
        token_hash=f"h{n[0]}",
        created_at=at - timedelta(hours=1),
        expires_at=at + timedelta(days=9),
    )
    return Response.objects.create(invite=invite, survey=survey, score=score, band=band, at=at)


def message(case, at, score, direction="inbound"):  # type: ignore[no-untyped-def]
    return Interaction.objects.create(
        customer=case.customer,
        case=case,
        channel="email",
        direction=direction,
        occurred_at=at,
        recorded_at=at,
        body="hello",
        sentiment_score=score,
        sentiment_label="neutral" if score is not None else None,
    )


def job(team, customer, *, ends, state, completed=None, n=[0]):  # type: ignore[no-untyped-def]  # noqa: B006
    n[0] += 1
    start = ends - timedelta(hours=2)
    slot, _ = Slot.objects.get_or_create(
        team=team, starts_at=start, ends_at=ends, defaults={"capacity": 9}
    )
    return Job.objects.create(
        kind="delivery",
        customer=customer,
        team=team,
        slot=slot,
        address="1 Main St",
        window_start=start,
        window_end=ends,
        state=state,
        completed_at=completed,
        tracking_token=f"t{n[0]}",
        created_at=start - timedelta(days=2),
        updated_at=start - timedelta(days=2),
    )


def test_each_figure_counts_its_own_week_and_team(team, other_team):
    customer = CustomerFactory()
    case = CaseFactory(team=team, customer=customer)
    theirs = CaseFactory(team=other_team, customer=customer)
    csat = SurveyFactory(kind="csat", team=team)
    nps = SurveyFactory(kind="nps", team=team)

    # promises: two broken this week (one on its first second), one last week (its last
    # second), one kept, one broken for the other team
    promise(team, customer, state="broken", at=THIS)
    promise(team, customer, state="broken", at=NOW - timedelta(hours=1))
    promise(team, customer, state="broken", at=THIS - EDGE)
    promise(team, customer, state="kept", at=NOW - timedelta(hours=2))
    promise(other_team, customer, state="broken", at=NOW - timedelta(hours=2))

    # CSAT this week: 5, 4, 2 (two of three happy); NPS: 10, 9, 8, 3 (+50 - 25 = 25)
    for score in (5, 4, 2):
        band = Band.PROMOTER if score >= 4 else Band.DETRACTOR
        answer(case, csat, score, band, THIS + timedelta(hours=score))
    for score, band in (
        (10, Band.PROMOTER),
        (9, Band.PROMOTER),
        (8, Band.PASSIVE),
        (3, Band.DETRACTOR),
    ):
        answer(case, nps, score, band, THIS + timedelta(days=1, hours=score))
    answer(case, csat, 1, Band.DETRACTOR, THIS - EDGE)  # last week
    answer(theirs, csat, 5, Band.PROMOTER, THIS + timedelta(hours=1))  # the other team

    # sentiment this week: 0.5 and -0.1 (mean 0.2); an outbound reply and an unscored
    # message are left out, as is last week's
    message(case, THIS + timedelta(hours=1), 0.5)
    message(case, THIS + timedelta(hours=2), -0.1)
    message(case, THIS + timedelta(hours=3), 0.9, direction="outbound")
    message(case, THIS + timedelta(hours=4), None)
    message(case, THIS - EDGE, -1.0)

    # jobs whose window ended this week, by now: one completed inside it, one completed
    # after it, one failed, one still scheduled (late); a cancelled one and one whose window
    # ends after now are left out; last week, one completed in time
    ends = THIS + timedelta(days=1, hours=12)
    job(team, customer, ends=ends, state="completed", completed=ends - timedelta(minutes=5))
    job(team, customer, ends=ends, state="completed", completed=ends + timedelta(minutes=5))
    job(team, customer, ends=ends, state="failed")
    job(team, customer, ends=ends, state="scheduled")
    job(team, customer, ends=ends, state="cancelled")
    job(team, customer, ends=NOW + timedelta(hours=1), state="scheduled")
    job(
        team,
        customer,
        ends=LAST + timedelta(days=2),
        state="completed",
        completed=LAST + timedelta(days=2) - timedelta(hours=1),
    )

    rollups_rebuild(weeks=2, now=NOW)

    this = TeamWeekRollup.objects.get(team=team, week=THIS.date())
    last = TeamWeekRollup.objects.get(team=team, week=LAST.date())
    other = TeamWeekRollup.objects.get(team=other_team, week=THIS.date())
    assert this.promises_broken == 2 and last.promises_broken == 1
    assert other.promises_broken == 1
    assert (this.csat_responses, this.csat_happy) == (3, 2)
    assert (this.nps_responses, this.nps_promoters, this.nps_detractors) == (4, 2, 1)
    assert (last.csat_responses, other.csat_responses) == (1, 1)
    assert this.sentiment_messages == 2 and this.sentiment_mean == pytest.approx(0.2)
    assert last.sentiment_messages == 1 and last.sentiment_mean == pytest.approx(-1.0)
    assert (this.jobs_due, this.jobs_on_time) == (4, 1)
    assert (last.jobs_due, last.jobs_on_time) == (1, 1)
    shown = figures(this)
    assert shown["csat"] == 66.7 and shown["nps"] == 25.0
    assert shown["deliveries_on_time"] == 25.0 and shown["sentiment"] == 0.2
