"""Fixtures shared by the listening tests."""

from __future__ import annotations

import pytest

from lastmile.listening.services.terms import watchterm_create


@pytest.fixture
def brand_term(team, now):
    """Acme, the brand the front office watches, by its handle and its name."""
    return watchterm_create(
        name="Acme",
        query='@AcmeBank OR "acme bank"',
        kind="brand",
        brand_handle="@AcmeBank",
        team=team,
        now=now,
    )
