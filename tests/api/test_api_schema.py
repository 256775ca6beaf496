"""Schemathesis over the whole live OpenAPI schema, through a real HTTP server.

Every operation is called with generated valid and invalid input (fixed seed, so a run is
repeatable): no response may be a 5xx, every response must match the schema, invalid input
must be refused, an operation must refuse a missing or wrong token, and a deleted resource
must stay gone. ``make test`` runs this on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    use_after_free,
)
from schemathesis.transport.requests import ManagedCookiesSession

from lastmile.api.services import token_create
from lastmile.cases.services import case_create
from lastmile.customers.identities import IdentityKey
from lastmile.customers.services.customers import customer_resolve
from lastmile.funnels.funnel_services import funnel_create
from lastmile.journeys.services import template_save
from lastmile.loops.services import loop_open
from tests.people.factories import AgentFactory, TeamFactory

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
    use_after_free,
]


@pytest.fixture
def api_schema(live_server, transactional_db):
    return schemathesis.openapi.from_url(f"{live_server.url}/api/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")
ADMIN_TOKEN: dict[str, str] = {}


@schema.auth(refresh_interval=None)
class AdminToken:
    """The ``bearer`` fixture's token, set by schemathesis on each generated request, so a
    request generated without or with a wrong Authorization header goes out as generated."""

    def get(self, case, context):
        return ADMIN_TOKEN["secret"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@pytest.fixture
def bearer(transactional_db, settings):
    """An admin agent's token, and some rows for the generated ids and refs to land on."""
    # ignored_auth sends a wrong token for every operation, all from 127.0.0.1: the limit on
    # unknown tokens per address would answer them 429 instead of the 401 checked for.
    settings.LASTMILE_TOKEN_FAILURE_LIMIT = 1_000_000
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    team = TeamFactory(name="Fuzz team", slug="fuzz")
    admin = AgentFactory(user__username="fuzz-admin", role="admin", teams=[team])
    customer = customer_resolve(
        identities=[IdentityKey("email", "", "fuzz@example.com")], now=now
    ).customer
    case = case_create(customer=customer, subject="Fuzzed case", team=team, now=now)
    loop_open(customer=customer, case=case, kind="task", title="Fuzzed loop", team=team, now=now)
    definition = {"slug": "fuzz", "name": "Fuzz", "steps": [{"key": "a", "title": "A"}]}
    template_save(definition=definition, now=now)
    funnel = {"window_seconds": 60, "steps": [{"event": "A"}, {"event": "B"}]}
    funnel_create(name="Fuzz funnel", definition=funnel, actor=None, now=now)
    ADMIN_TOKEN["secret"] = token_create(name="fuzz", agent=admin, now=now)[1]
    yield
    ADMIN_TOKEN.clear()


@pytest.fixture
def http():
    """One HTTP session for all the generated requests, so they go over one keep-alive
    connection: without it each request opens its own, and the live server answers each on
    a new thread with a new database connection (on SQLite a third of its time on the server). Its
    cookies are dropped after every request (schemathesis's ManagedCookiesSession), so no
    request carries what an earlier one was answered with."""
    # (The live server sends at once: tests/conftest.py's _live_server_sends_at_once.)
    with ManagedCookiesSession() as session:
        # No proxy or .netrc for a server on loopback: not looked up in the environment again
        # on every request.
        session.trust_env = False
        yield session


# The coverage phase sends every boundary and negative case the schema defines (most of the
# ~190 requests an operation gets); max_examples only bounds the random fuzzing on top of it.
# 10 (was 20): this test is the suite's slowest by far.
@schema.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_answers_every_generated_request_within_its_schema(case, bearer, http):
    case.call_and_validate(session=http, checks=CHECKS)
