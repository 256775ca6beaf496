from __future__ import annotations

import pytest

from lastmile.api.services import token_create
from tests.api.client import Api
from tests.feedback.factories import SurveyFactory, reachable_customer


@pytest.fixture
def survey(team):
    return SurveyFactory(name="After a case", kind="nps", team=team)


@pytest.fixture
def asked(db):
    """A customer with an email address."""
    return reachable_customer()


@pytest.fixture
def api(client, now):
    """The API as an integration (sees every team)."""
    return Api(client, token_create(name="integration", now=now)[1])
