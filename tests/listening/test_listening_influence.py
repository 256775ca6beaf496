"""Influence: 0 to 100, log-scaled, never lower for more followers, engagement or reach."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lastmile.listening.influence import engagement_of, influence_score, reach_of

counts = st.integers(min_value=0, max_value=10**10)
mentions = st.integers(min_value=1, max_value=10**5)


@given(counts, counts, counts, mentions, st.integers(min_value=0, max_value=10**9))
def test_more_followers_never_lowers_influence(followers, engagement, reach, n, more):
    a = influence_score(followers=followers, engagement=engagement, mentions=n, reach=reach)
    b = influence_score(followers=followers + more, engagement=engagement, mentions=n, reach=reach)
    assert b >= a


@given(counts, counts, counts, mentions, st.integers(min_value=0, max_value=10**9))
def test_more_engagement_never_lowers_influence(followers, engagement, reach, n, more):
    a = influence_score(followers=followers, engagement=engagement, mentions=n, reach=reach)
    b = influence_score(followers=followers, engagement=engagement + more, mentions=n, reach=reach)
    assert b >= a


@given(counts, counts, counts, mentions, st.integers(min_value=0, max_value=10**9))
def test_more_reach_never_lowers_influence(followers, engagement, reach, n, more):
    a = influence_score(followers=followers, engagement=engagement, mentions=n, reach=reach)
    b = influence_score(followers=followers, engagement=engagement, mentions=n, reach=reach + more)
    assert b >= a


@given(counts, counts, counts, st.integers(min_value=0, max_value=10**5))
def test_influence_stays_between_0_and_100(followers, engagement, reach, n):
    score = influence_score(followers=followers, engagement=engagement, mentions=n, reach=reach)
    assert 0.0 <= score <= 100.0


def test_followers_are_log_scaled():
    def f(n):
        return influence_score(followers=n, engagement=0, mentions=1, reach=0)

    # Each tenfold step adds the same (before the cap); a linear scale would not.
    step = f(1_000) - f(100)
    assert step > 0
    assert f(100_000) - f(10_000) == pytest.approx(step, abs=0.2)


def test_an_influencer_outweighs_an_ordinary_account():
    star = influence_score(
        followers=184_000,
        engagement=engagement_of(likes=2400, reposts=610, replies=180),
        mentions=1,
        reach=reach_of(followers=184_000, reposts=610),
    )
    ordinary = influence_score(
        followers=212,
        engagement=engagement_of(likes=3, reposts=0, replies=0),
        mentions=1,
        reach=reach_of(followers=212, reposts=0),
    )
    assert star > 60 > ordinary


def test_reach_uses_the_impressions_when_the_network_gives_them():
    assert reach_of(followers=100, reposts=5, impressions=40_000) == 40_000
    assert reach_of(followers=100, reposts=5) == 100 + 5 * 200
