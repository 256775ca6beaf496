"""Fixtures shared by the crisis tests: a watched term with its lead, an outage on it, and an
alert raised on a spike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.crisis.mentions import alert_for, authors_make, outage_history, spike, term_make


@pytest.fixture
def lead(team, alice):
    """Alice leads the front office, the team that watches the term."""
    team.lead = alice
    team.save(update_fields=["lead"])
    return alice


@pytest.fixture
def term(team, lead, now):
    return term_make(team=team, now=now)


@pytest.fixture
def outage(term, now):
    return outage_history(term, now=now)


@pytest.fixture
def alert(team, now):
    """An alert on a spike of three authors' mentions 30 minutes ago."""
    term = term_make(team=team, now=now)
    at = now - timedelta(minutes=30)
    spike(term, authors_make(3, now=now), start=at, buckets=1, per_bucket=5, now=now)
    return alert_for(term, now=now, bucket_start=at)
