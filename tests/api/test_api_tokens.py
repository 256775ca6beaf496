"""Who a bearer token still speaks for: a deactivated agent's tokens stop working at once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from lastmile.api.models import ApiToken, TokenFailureCount
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


# 10:00:15 on the fixtures' Monday: 45 s left in the minute whose failures are counted.
CLOCK = datetime(2026, 11, 23, 10, 0, 15, tzinfo=UTC)
ELSEWHERE = {"REMOTE_ADDR": "127.0.0.2"}


@pytest.fixture
def limit(settings):
    settings.LASTMILE_TOKEN_FAILURE_LIMIT = 3
    return 3


def _wrong(client, n=1, **extra):
    return [
        client.get("/api/v1/cases", **_bearer(f"lm_wrong{i}"), **extra).status_code
        for i in range(n)
    ]


def test_unknown_tokens_past_the_limit_get_429_with_retry_after(client, limit):
    with time_machine.travel(CLOCK, tick=False):
        assert _wrong(client, limit) == [401] * limit
        refused = client.get("/api/v1/cases", **_bearer("lm_wrong-again"))
    assert refused.status_code == 429
    assert refused["Retry-After"] == "45"
    body = refused.json()
    assert body["code"] == "too_many_auth_failures" and "try again in 45 s" in body["detail"]
    assert body["errors"] == [
        {
            "index": None,
            "field": "Authorization",
            "reason": "unknown token, too many times this minute",
        }
    ]


def test_a_valid_token_works_while_an_address_is_refused(client, alice, limit):
    _, secret = token_create(name="alice-laptop", agent=alice.agent, now=CLOCK)
    with time_machine.travel(CLOCK, tick=False):
        _wrong(client, limit + 1)
        assert _wrong(client) == [429]
        # from another address, and from the refused one: a valid token is one lookup, no count
        assert client.get("/api/v1/cases", **_bearer(secret), **ELSEWHERE).status_code == 200
        assert client.get("/api/v1/cases", **_bearer(secret)).status_code == 200
        # an unknown token from another address is counted on its own
        assert _wrong(client, **ELSEWHERE) == [401]


def test_the_count_starts_again_the_next_minute_and_old_minutes_are_dropped(client, limit):
    with time_machine.travel(CLOCK, tick=False):
        _wrong(client, limit + 1)
    with time_machine.travel(CLOCK + timedelta(seconds=44), tick=False):
        assert _wrong(client) == [429]
    with time_machine.travel(CLOCK + timedelta(seconds=45), tick=False):
        assert _wrong(client) == [401]
    assert list(TokenFailureCount.objects.values_list("minute", "failures")) == [
        (datetime(2026, 11, 23, 10, 1, tzinfo=UTC), 1)
    ]


def test_a_request_without_a_token_is_not_counted(client, limit):
    for _ in range(limit + 1):
        assert client.get("/api/v1/cases").status_code == 401
    assert not TokenFailureCount.objects.exists()


# --- behind a reverse proxy (LASTMILE_TRUSTED_PROXIES) -------------------------------------
# The test client connects from 127.0.0.1, the proxy; clients behind it are told apart by
# the address the proxy appends to X-Forwarded-For, never by what they wrote there.


@pytest.fixture
def behind_proxy(settings):
    from lastmile.core.netguard import networks_parse

    settings.LASTMILE_TRUSTED_PROXIES = networks_parse("127.0.0.1/32")


def _from(client_address, spoofed=""):
    return {"HTTP_X_FORWARDED_FOR": f"{spoofed}, {client_address}" if spoofed else client_address}


def test_without_trusted_proxies_a_forwarded_for_header_is_ignored(client, limit):
    with time_machine.travel(CLOCK, tick=False):
        _wrong(client, limit, **_from("203.0.113.7"))
        assert _wrong(client, **_from("203.0.113.8")) == [429]
    assert list(TokenFailureCount.objects.values_list("address", flat=True)) == ["127.0.0.1"]


def test_behind_a_trusted_proxy_each_client_has_its_own_count(client, limit, behind_proxy):
    with time_machine.travel(CLOCK, tick=False):
        _wrong(client, limit, **_from("203.0.113.7"))
        assert _wrong(client, **_from("203.0.113.7")) == [429]
        # another client behind the same proxy is counted on its own
        assert _wrong(client, **_from("203.0.113.8")) == [401]
        # and a spoofed left-most entry does not move the first one's failures elsewhere
        assert _wrong(client, **_from("203.0.113.7", spoofed="198.51.100.1")) == [429]
    assert dict(TokenFailureCount.objects.values_list("address", "failures")) == {
        "203.0.113.7": limit + 2,
        "203.0.113.8": 1,
    }
