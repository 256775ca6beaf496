"""Practice at once on PostgreSQL: two first saves make one attempt; two leads scoring the
same draft score it once, the other told it is scored already."""

from __future__ import annotations

import pytest

from lastmile.core.errors import Conflict
from lastmile.training import services
from lastmile.training.models import AttemptState, PracticeAttempt, PracticeEvent, PracticeScore
from tests.invoices.test_concurrency import run_together

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def test_two_first_saves_at_once_make_one_attempt(nina, practice, now):
    def save(reply):  # type: ignore[no-untyped-def]
        return lambda: services.attempt_save(
            viewer=nina, practice_case=practice, reply=reply, now=now
        )

    errors = run_together(save("First"), save("Second"))

    assert errors == []
    attempt = PracticeAttempt.objects.get()
    assert attempt.reply in ("First", "Second")
    assert list(PracticeEvent.objects.values_list("kind", flat=True).order_by("kind")) == [
        "saved",
        "started",
    ]


def test_two_leads_scoring_at_once_score_once(nina, lena, admin_user, practice, card, now):
    attempt = services.attempt_submit(
        viewer=nina,
        attempt=services.attempt_save(viewer=nina, practice_case=practice, reply="Hi", now=now),
        now=now,
    )
    cats = list(card.categories.all())

    def score(viewer, value):  # type: ignore[no-untyped-def]
        def run():  # type: ignore[no-untyped-def]
            fresh = PracticeAttempt.objects.get(pk=attempt.pk)
            services.attempt_score(
                viewer=viewer,
                attempt=fresh,
                scores=[services.ScoreIn(category=c.pk, score=value(c)) for c in cats],
                now=now,
            )

        return run

    errors = run_together(
        score(lena, lambda c: c.max_score), score(admin_user, lambda c: c.min_score)
    )

    assert len(errors) == 1 and isinstance(errors[0], Conflict)
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.SCORED and attempt.score in (0.0, 100.0)
    assert PracticeScore.objects.filter(attempt=attempt).count() == len(cats)
    assert PracticeEvent.objects.filter(attempt=attempt, kind="scored").count() == 1
