"""The NPS arithmetic against a plain reference: counts by looping over the scores, the
interval from the weighted mean and variance of +1/0/-1 answers."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastmile.feedback.models import Band, Invite, Response, band_of
from lastmile.feedback.selectors import Z95, feedback_summary, nps_of
from lastmile.people.viewers import SYSTEM
from tests.feedback.factories import reachable_customer

scores = st.lists(st.integers(min_value=0, max_value=10), max_size=300)


def reference(values: list[int]) -> tuple[int, int, int, float | None, float | None, float | None]:
    """Promoters, passives, detractors, NPS and its adjusted Wald interval, the long way:
    each answer is +1 (9-10), 0 (7-8) or -1 (0-6); 3/4 of a +1, 3/2 of a 0 and 3/4 of a -1
    are added as weights; the interval is the weighted mean ± z sqrt(variance / weight)."""
    promoters = passives = detractors = 0
    for v in values:
        if v >= 9:
            promoters += 1
        elif v >= 7:
            passives += 1
        else:
            detractors += 1
    if not values:
        return 0, 0, 0, None, None, None
    nps = 100 * sum(1 if v >= 9 else -1 if v <= 6 else 0 for v in values) / len(values)
    weighted = [(1.0 if v >= 9 else -1.0 if v <= 6 else 0.0, 1.0) for v in values]
    weighted += [(1.0, 0.75), (0.0, 1.5), (-1.0, 0.75)]
    total = sum(w for _, w in weighted)
    mean = sum(x * w for x, w in weighted) / total
    variance = sum(w * (x - mean) ** 2 for x, w in weighted) / total
    half = Z95 * math.sqrt(variance / total)
    return (
        promoters,
        passives,
        detractors,
        nps,
        max(-100.0, 100 * (mean - half)),
        min(100.0, 100 * (mean + half)),
    )


@given(scores)
def test_nps_and_its_interval_match_the_reference(values):
    p, m, d, nps, low, high = reference(values)
    got = nps_of(p, m, d)
    assert (got.responses, got.promoters, got.passives, got.detractors) == (len(values), p, m, d)
    if nps is None:
        assert got.nps is got.low is got.high is None
        return
    assert got.nps == pytest.approx(nps, abs=1e-9)
    assert got.low == pytest.approx(low, abs=1e-9) and got.high == pytest.approx(high, abs=1e-9)
    assert -100 <= got.low < got.high <= 100  # never a point, never out of range


@given(st.lists(st.integers(min_value=0, max_value=10), min_size=1, max_size=200))
def test_the_interval_contains_the_adjusted_estimate_and_narrows_with_more_answers(values):
    one = nps_of(*reference(values)[:3])
    four = nps_of(*(4 * c for c in reference(values)[:3]))
    assert four.high - four.low < one.high - one.low  # type: ignore[operator]


def test_every_answer_a_promoter_still_has_an_interval_below_100():
    got = nps_of(20, 0, 0)
    assert got.nps == 100.0 and got.high == 100.0 and got.low is not None and got.low < 90


def test_the_bands_are_the_standard_split():
    assert [band_of("nps", s) for s in range(11)] == [Band.DETRACTOR] * 7 + [Band.PASSIVE] * 2 + [
        Band.PROMOTER
    ] * 2


@pytest.mark.django_db
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(values=st.lists(st.integers(min_value=0, max_value=10), max_size=25))
def test_the_summary_query_matches_the_reference(survey, now, values):
    with transaction.atomic():
        customer = reachable_customer()
        invites = Invite.objects.bulk_create(
            Invite(
                survey=survey,
                customer=customer,
                channel="link",
                state="answered",
                token_hash=f"{i:064d}",
                created_at=now,
                expires_at=now + timedelta(days=30),
            )
            for i in range(len(values))
        )
        Response.objects.bulk_create(
            Response(invite=invite, survey=survey, score=v, band=band_of("nps", v), at=now)
            for invite, v in zip(invites, values, strict=True)
        )
        got = feedback_summary(viewer=SYSTEM, survey=survey.pk).nps
        transaction.set_rollback(True)
    p, m, d, nps, low, high = reference(values)
    assert (got.promoters, got.passives, got.detractors) == (p, m, d)
    assert got.nps == (None if nps is None else pytest.approx(nps))
    assert got.low == (None if low is None else pytest.approx(low))
