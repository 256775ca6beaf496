"""``qa.reviewed`` is told in the review's transaction for every review written: a lead's,
an override of the automatic pass, and the automatic pass itself (once per case)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.core.events import event_subscribe, event_unsubscribe
from lastmile.scorecards.models import QaCategory, QaScorecard
from lastmile.scorecards.services import ScoreIn, qa_autoreview, qa_review_create
from tests.people.factories import team_lead
from tests.scorecards.qa_helpers import conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():  # type: ignore[no-untyped-def]
    seen: list[tuple[dict, object]] = []

    def one(name, data, at):  # type: ignore[no-untyped-def]
        seen.append((data, at))

    event_subscribe(one, names=["qa.reviewed"])
    yield seen
    event_unsubscribe(one)


@pytest.fixture
def solved(customer, team, alice, now):  # type: ignore[no-untyped-def]
    return conversation(
        customer, team, alice, at=now, parts=[("in", "Where is it?"), ("out", "Sorry.")]
    )


def test_the_automatic_pass_tells_once(solved, alice, team, now, heard):
    at = now + timedelta(hours=1)
    review = qa_autoreview(case=solved, now=at)
    qa_autoreview(case=solved, now=at + timedelta(hours=1))
    assert heard == [
        (
            {
                "review": review.pk,
                "case": solved.pk,
                "agent": alice.pk,
                "team": team.pk,
                "reviewer": None,
                "automatic": True,
                "overrides": None,
                "score": review.score,
            },
            at,
        )
    ]


def test_a_leads_review_and_an_override_tell(solved, team, now, heard):
    lena = team_lead(team, "lena")
    card = QaScorecard.objects.create(name="Service")
    tone = QaCategory.objects.create(scorecard=card, name="Tone", min_score=1, max_score=5)
    at = now + timedelta(hours=2)
    mine = qa_review_create(
        viewer=lena,
        case_ref=solved.ref,
        scorecard_id=card.pk,
        scores=[ScoreIn(tone.pk, 3)],
        now=at,
    )
    automatic = qa_autoreview(case=solved, now=at)
    override = qa_review_create(
        viewer=lena,
        case_ref=solved.ref,
        scorecard_id=automatic.scorecard_id,
        scores=[ScoreIn(c.pk, c.max_score) for c in automatic.scorecard.categories.all()],
        overrides_id=automatic.pk,
        now=at,
    )
    told = [
        (d["review"], d["reviewer"], d["automatic"], d["overrides"], d["score"]) for d, _ in heard
    ]
    assert told == [
        (mine.pk, lena.pk, False, None, 50.0),
        (automatic.pk, None, True, None, automatic.score),
        (override.pk, lena.pk, False, automatic.pk, 100.0),
    ]
