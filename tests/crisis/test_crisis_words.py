"""How an alert's numbers read on the alerts list and in the crisis room."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lastmile.crisis.models import Alert
from lastmile.crisis.templatetags.crisis_tags import also, baseline, observed, why

AT = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


def alert(signal: str, seen: float, usual: float | None, **details) -> Alert:
    return Alert(
        signal=signal,
        observed=seen,
        baseline=usual,
        score=0.96,
        sensitivity=0.5,
        bucket_start=AT,
        details=details,
    )


@pytest.mark.parametrize(
    ("seen", "usual", "words"),
    [
        (6.0, 0.04, ("6", "0")),  # counts read as counts, not "6.0 vs 0.0"
        (6.0, 0.1, ("6", "0.1")),
        (2.5, 1.25, ("2.5", "1.2")),
        (48.0, 12.4, ("48", "12")),
        (1234.0, 987.6, ("1,234", "988")),
    ],
)
def test_volumes_are_written_as_counts_with_a_decimal_only_when_it_says_something(
    seen, usual, words
):
    a = alert("negative_volume", seen, usual)
    assert (observed(a), baseline(a)) == words


def test_the_sentence_says_what_was_seen_against_what_was_expected(settings):
    settings.TIME_ZONE = "UTC"
    text = why(alert("negative_volume", 6.0, 0.04))
    assert text.startswith("In the 5 minutes from Wed 18:00, 6 negative mentions, ")
    assert "where about 0 were expected: a score of 0.96 where this detector fires at 0.50." in text


def test_shares_stay_percentages():
    a = alert("negative_share", 1.0, 0.0)
    assert (observed(a), baseline(a)) == ("100%", "0%")


def test_the_other_signals_read_the_same_way():
    a = alert(
        "negative_volume",
        6.0,
        0.0,
        also=[
            {"signal": "volume", "observed": 6.0, "baseline": 0.1, "score": 0.64},
            {"signal": "negative_share", "observed": 1.0, "baseline": 0.0, "score": 0.9},
        ],
    )
    assert also(a) == [
        "Mention volume: 6 vs 0.1 (score 0.64)",
        "Negative share: 100% vs 0% (score 0.90)",
    ]
