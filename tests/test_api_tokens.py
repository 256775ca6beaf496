"""Who a bearer token still speaks for: a deactivated agent's tokens stop working at once."""

from __future__ import annotations

import json

import pytest

from lastmile.api.models import ApiToken
from lastmile.api.services import token_create
from lastmile.cases.models import Case
from lastmile.core.clock import utcnow
from lastmile.customers.models import Customer

pytestmark = pytest.mark.django_db


def _bearer(secret):
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def _create_case(client, secret, team):
    body = {
        "customer": {"identities": [{"kind": "email", "value": "q@example.com"}]},
        "subject": "written with an agent token",
        "team": team.slug,
    }
    return client.post(
        "/api/v1/cases", json.dumps(body), content_type="application/json", **_bearer(secret)
    )


def test_a_deactivated_agents_token_is_refused_on_reads_and_writes(client, alice, team, now):
    # Given alice's token, which works
    _, secret = token_create(name="alice-laptop", agent=alice.agent, now=now)
    assert client.get("/api/v1/cases", **_bearer(secret)).status_code == 200
    # When alice is deactivated
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    # Then the same token gets 401 on a read and on a write, and nothing is written
    read = client.get("/api/v1/cases", **_bearer(secret))
    assert read.status_code == 401 and read.json()["code"] == "unauthorized"
    write = _create_case(client, secret, team)
    assert write.status_code == 401 and write.json()["code"] == "unauthorized"
    assert not Case.objects.exists() and not Customer.objects.exists()


def test_a_teammates_and_an_integrations_tokens_keep_working(client, alice, bob, team, now):
    _, bobs = token_create(name="bob-laptop", agent=bob.agent, now=now)
    _, integration = token_create(name="crm", now=now)
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert client.get("/api/v1/cases", **_bearer(bobs)).status_code == 200
    assert _create_case(client, integration, team).status_code == 201


def test_reactivating_the_agent_lets_the_token_work_again(client, alice, now):
    _, secret = token_create(name="alice-laptop", agent=alice.agent, now=now)
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert client.get("/api/v1/cases", **_bearer(secret)).status_code == 401
    alice.is_active = True
    alice.save(update_fields=["is_active"])
    assert client.get("/api/v1/cases", **_bearer(secret)).status_code == 200


def test_a_valid_token_is_still_checked_in_one_query(client, alice, now, django_assert_num_queries):
    _, secret = token_create(name="alice-laptop", agent=alice.agent, now=now)
    ApiToken.objects.update(last_used_at=utcnow())  # the throttled last-used write stays out
    from lastmile.api.auth import TokenAuth

    request = type("R", (), {})()
    with django_assert_num_queries(1):
        assert TokenAuth().authenticate(request, secret) is not None


def test_the_admin_shows_a_deactivated_agents_token_as_refused(client, alice, bob, now):
    token_create(name="alice-laptop", agent=alice.agent, now=now)
    token_create(name="bob-laptop", agent=bob.agent, now=now)
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    staff = type(alice).objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(staff)
    page = client.get("/admin/api/apitoken/").content.decode()
    rows = {
        row.split("</th>")[0]: row.split("</tr>")[0]
        for row in page.split('<th class="field-name">')[1:]
    }
    alice_row = next(r for k, r in rows.items() if "alice-laptop" in k)
    bob_row = next(r for k, r in rows.items() if "bob-laptop" in k)
    assert "refused: agent deactivated" in alice_row
    assert "refused" not in bob_row and "active" in bob_row
