"""The QA review score (the published Zendesk QA formula), against a plain reference and
worked examples."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lastmile.scorecards.qa import Rated, category_percent, review_score


def reference(rated: list[Rated]) -> float:
    """The formula as the Zendesk QA help centre writes it, in floats, one step at a time."""
    percents = []
    for r in rated:
        percents.append((r.score - r.low) / (r.high - r.low) * 100)
    for r, p in zip(rated, percents, strict=True):
        if r.critical and p < 50:
            return 0.0
    weighted = 0.0
    weights = 0
    for r, p in zip(rated, percents, strict=True):
        weighted += r.weight * p
        weights += r.weight
    return weighted / weights


@st.composite
def a_category(draw: st.DrawFn) -> Rated:
    low = draw(st.integers(-10, 10))
    high = draw(st.integers(low + 1, low + 20))
    return Rated(
        weight=draw(st.integers(1, 10)),
        low=low,
        high=high,
        critical=draw(st.booleans()),
        score=draw(st.integers(low, high)),
    )


@example([Rated(5, 0, 1, False, 0), Rated(6, 0, 1, False, 0), Rated(5, 0, 10, False, 3)])
@given(st.lists(a_category(), min_size=1, max_size=8))
def test_the_score_is_the_reference_formula(rated):
    # The score is rounded to 2 places: at most half a hundredth from the exact mean.
    assert review_score(rated) == pytest.approx(reference(rated), abs=0.005 + 1e-9)


@given(st.lists(a_category(), min_size=1, max_size=8))
def test_the_score_is_between_0_and_100(rated):
    assert 0 <= review_score(rated) <= 100


@given(st.lists(a_category(), min_size=1, max_size=8))
def test_a_critical_category_under_half_zeroes_the_review(rated):
    failing = Rated(weight=1, low=0, high=10, critical=True, score=4)
    assert review_score([*rated, failing]) == 0.0


@given(st.lists(a_category(), min_size=1, max_size=8), st.integers(2, 5))
def test_scaling_every_weight_changes_nothing(rated, k):
    scaled = [Rated(r.weight * k, r.low, r.high, r.critical, r.score) for r in rated]
    assert review_score(scaled) == review_score(rated)


@pytest.mark.parametrize(
    ("rated", "expected"),
    [
        # One category, 3 on 1..5: (3 - 1) / 4 = 50 %.
        ([Rated(1, 1, 5, False, 3)], 50.0),
        # 75 % weighted 1, 100 % weighted 3: (75 + 300) / 4.
        ([Rated(1, 0, 4, False, 3), Rated(3, 1, 5, False, 5)], 93.75),
        # A critical category at exactly 50 % does not zero the review.
        ([Rated(1, 0, 2, True, 1), Rated(1, 0, 10, False, 10)], 75.0),
        # Under 50 % it does, whatever the others.
        ([Rated(1, 0, 10, True, 4), Rated(9, 0, 10, False, 10)], 0.0),
        # A failing non-critical category only weighs: (0 * 2 + 100 * 1) / 3.
        ([Rated(2, 0, 1, False, 0), Rated(1, 0, 1, False, 1)], 33.33),
    ],
)
def test_worked_examples(rated, expected):
    assert review_score(rated) == expected


@pytest.mark.parametrize(
    ("rated", "message"),
    [
        ([], "at least one"),
        ([Rated(0, 0, 1, False, 1)], "positive"),
        ([Rated(1, 0, 1, False, 2)], "outside"),
        ([Rated(1, 3, 3, False, 3)], "above its min"),
    ],
)
def test_nonsense_is_refused(rated, message):
    with pytest.raises(ValueError, match=message):
        review_score(rated)


def test_a_category_percent_is_exact():
    assert category_percent(1, 0, 3) * 3 == 100


def test_the_docstring_examples_hold():
    import doctest

    from lastmile.scorecards import qa

    result = doctest.testmod(qa)
    assert result.attempted >= 2 and result.failed == 0
