"""Schemathesis over the live OpenAPI schema, through a real HTTP server.

Every operation is called with generated valid and invalid input: no response may be a
5xx, and every response must match the schema (documented status, body shape).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from lastmile.api.services import token_create
from lastmile.cases.services import case_create
from lastmile.customers.identities import IdentityKey
from lastmile.customers.services import customer_resolve
from lastmile.loops.services import loop_open


@pytest.fixture
def api_schema(live_server, transactional_db):
    return schemathesis.openapi.from_url(f"{live_server.url}/api/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def bearer(transactional_db):
    now = datetime.now(UTC)
    # Some rows for the generated ids and refs to land on.
    customer = customer_resolve(
        identities=[IdentityKey("email", "", "fuzz@example.com")], now=now
    ).customer
    case = case_create(customer=customer, subject="Fuzzed case", now=now)
    loop_open(customer=customer, case=case, kind="task", title="Fuzzed loop", now=now)
    return {"Authorization": f"Bearer {token_create(name='fuzz', now=now)[1]}"}


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_answers_every_generated_request_without_5xx_and_within_schema(case, bearer):
    case.call_and_validate(
        headers=bearer,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
