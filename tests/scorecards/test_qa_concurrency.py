"""Workers running the automatic pass at once on PostgreSQL review each case once."""

from __future__ import annotations

import pytest

from lastmile.scorecards.models import QaReview, QaScore, QaScorecard
from lastmile.scorecards.services import qa_autoreview_pending
from tests.invoices.test_concurrency import run_together
from tests.scorecards.qa_helpers import conversation


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_three_workers_at_once_review_each_closed_case_once(customer, team, alice, now):
    # given four solved cases and no Automatic scorecard yet (the workers race to make it)
    cases = [
        conversation(customer, team, alice, at=now, parts=[("in", "Hi"), ("out", "We will.")])
        for _ in range(4)
    ]
    written: list[int] = []

    def work():  # type: ignore[no-untyped-def]
        written.append(qa_autoreview_pending(now=now))

    # when three workers run the pass at once
    errors = run_together(work, work, work)

    # then each case has one automatic review with its four scores, on one scorecard
    assert errors == []
    assert sum(written) == 4
    assert sorted(QaReview.objects.values_list("case_id", flat=True)) == sorted(c.pk for c in cases)
    assert QaScore.objects.count() == 16
    assert QaScorecard.objects.filter(automatic=True).count() == 1
