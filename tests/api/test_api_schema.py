"""Schemathesis over the whole live OpenAPI schema, through a real HTTP server.

Every operation is called with generated valid and invalid input (fixed seed, so a run is
repeatable): no response may be a 5xx, every response must match the schema, invalid input
must be refused, an operation must refuse a missing or wrong token, and a deleted resource
must stay gone. ``make test`` runs this on both databases.

What it costs, and the settings that bound it (the suite's dearest module, twice a run):

- One pytest test: the live server, the schema and the rows (``bearer``) are set up once and
  every operation is a subtest of it, not a test of its own with its own flush.
- The coverage phase sends every boundary and negative case the schema defines, for every
  operation (about 9,600 requests; its repeats, such as an undeclared method on a path two
  operations share, schemathesis already sends once). It is what checks each status code and
  response schema: left whole.
- The fuzzing phase draws FUZZ_EXAMPLES random cases per operation on top, positive and
  negative; drawing them (not sending them) is most of its time. 2 (was 10, then 4): the
  coverage phase already sends the boundaries and type errors these random cases mostly
  repeat, and with a fixed seed (``derandomize``) a run draws the same cases every time
  anyway. Each random case cost about 6 s a pass (150 operations: up to 600 fuzzed cases
  at 4, 80 s for the test on one core; up to 300 at 2, about 67 s).
- The check that an operation refuses a missing and a wrong token resends a 2xx request
  twice: once per operation (``ignored_auth_once_per_operation``), not after every 2xx.
- Timeouts of 60 s instead of schemathesis's 10 s, to load the schema and for each request:
  on a loaded machine (two suites on two cores) a slow answer is not a failure of the API.
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

# The operations whose refusal of a missing and of a wrong token is confirmed (emptied by
# the ``bearer`` fixture).
AUTH_ENFORCED: set[str] = set()


def ignored_auth_once_per_operation(ctx, response, case):
    """schemathesis's ignored_auth, which on a 2xx answer sends the request again without
    the token and with a wrong one (both must be refused), once per operation: as its own
    runner does (`CheckContext.auth_enforced_operations`), not after every 2xx answer (for
    GET and POST /api/v1/cases, 2 requests resent instead of 84). Every operation is still
    checked, on its first 2xx answer; the coverage phase's requests without a token go on
    besides."""
    ctx.auth_enforced_operations = AUTH_ENFORCED
    return ignored_auth(ctx, response, case)


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth_once_per_operation,
    use_after_free,
]


FUZZ_EXAMPLES = 2
TIMEOUT = 60  # seconds


@pytest.fixture
def api_schema(live_server, transactional_db):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/openapi.json", timeout=TIMEOUT)
    schema.config.request_timeout = TIMEOUT
    return schema


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
    AUTH_ENFORCED.clear()
    yield
    ADMIN_TOKEN.clear()
    AUTH_ENFORCED.clear()


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


# max_examples bounds only the fuzzing phase (the module's docstring says why 4).
@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_every_generated_request_within_its_schema(case, bearer, http):
    case.call_and_validate(session=http, checks=CHECKS)
