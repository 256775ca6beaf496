"""Every bad input is a 4xx naming what is wrong, and writes nothing (issue 11, points 7, 10).

Request bodies are strict (the JSON types the schema says, no unknown field, JSON only) and
every date-time is an ISO 8601 string with a time zone between 1970 and 2200.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from lastmile.api.services import token_create
from lastmile.cases.models import Case
from lastmile.customers.models import Customer, Interaction
from lastmile.listening.models import Mention
from lastmile.loops.models import Loop
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory
from tests.people.factories import TeamFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def headers(db):
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(name='strict', now=NOW)[1]}"}


@pytest.fixture
def send(client, headers):
    def send(method, path, body, content_type="application/json"):
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return getattr(client, method)(f"/api/v1{path}", data, content_type=content_type, **headers)

    return send


@pytest.fixture
def the_case(db):
    return CaseFactory(team=TeamFactory(slug="front"), subject="Original subject")


def interaction(**kw):
    base = {
        "channel": "chat",
        "direction": "inbound",
        "occurred_at": "2026-11-20T10:00:00Z",
        "customer": {"identities": [{"kind": "email", "value": "strict@example.com"}]},
        "body": "hello",
    }
    return base | kw


def mention(**kw):
    base = {
        "external_id": "1",
        "author": {"handle": "someone"},
        "text": "hi",
        "posted_at": "2026-11-20T10:00:00Z",
    }
    return {"items": [base | kw]}


def errors_of(response):
    body = response.json()
    assert set(body) == {"code", "detail", "errors"}
    return {(e["field"], e["index"]) for e in body["errors"]}


# --- point 10: strict bodies -------------------------------------------------------------


def test_an_array_instead_of_an_object_is_refused_and_the_case_unchanged(send, the_case):
    r = send("patch", f"/cases/{the_case.ref}", [])
    assert r.status_code == 422 and ("body", None) in errors_of(r)
    assert Case.objects.get(pk=the_case.pk).subject == "Original subject"


def test_a_string_body_is_not_read_as_an_object(send):
    r = send("post", "/knowledge/articles", "AAA")
    # "AAA" is not valid JSON; '"AAA"' is a JSON string, also not an object.
    assert r.status_code == 400
    r = send("post", "/knowledge/articles", '"AAA"')
    assert r.status_code == 422


def test_zero_is_not_a_boolean(send):
    r = send("post", "/mentions/batch", mention(to_brand=0))
    assert r.status_code == 422 and ("to_brand", 0) in errors_of(r)
    assert not Mention.objects.exists()


def test_true_is_not_a_customer_id(send):
    r = send("post", "/interactions", interaction(customer={"id": True}))
    assert r.status_code == 422 and ("customer.id", None) in errors_of(r)
    assert not Interaction.objects.exists()


def test_a_unix_time_is_not_a_date_time(send):
    r = send("post", "/interactions", interaction(occurred_at=1_700_000_000))
    assert r.status_code == 422 and ("occurred_at", None) in errors_of(r)
    assert not Interaction.objects.exists()


def test_a_date_time_without_a_time_zone_is_refused(send):
    r = send("post", "/interactions", interaction(occurred_at="2026-11-20T10:00:00"))
    assert r.status_code == 422 and ("occurred_at", None) in errors_of(r)


def test_a_number_is_not_a_due_before(client, headers):
    r = client.get("/api/v1/loops", {"due_before": "0.5"}, **headers)
    assert r.status_code == 422 and ("due_before", None) in errors_of(r)


def test_an_unknown_field_is_refused_by_name_and_nothing_written(send):
    r = send("post", "/interactions", interaction(occured_at="2026-11-20T10:00:00Z"))
    assert r.status_code == 422
    assert ("occured_at", None) in errors_of(r)
    assert "occured_at" in r.json()["detail"]
    assert not Interaction.objects.exists() and not Customer.objects.exists()


def test_an_unknown_nested_field_is_refused_by_name(send, the_case):
    r = send("patch", f"/cases/{the_case.ref}", {"subject": "New", "colour": "red"})
    assert r.status_code == 422 and ("colour", None) in errors_of(r)
    assert Case.objects.get(pk=the_case.pk).subject == "Original subject"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_refused_with_415(send, the_case, content_type):
    r = send("patch", f"/cases/{the_case.ref}", {"subject": "New"}, content_type=content_type)
    assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type"
    assert Case.objects.get(pk=the_case.pk).subject == "Original subject"


def test_malformed_json_says_why_without_debug(send, the_case, settings):
    settings.DEBUG = False
    r = send("patch", f"/cases/{the_case.ref}", '{"subject": NaN}')
    assert r.status_code == 400
    assert "NaN is not a JSON number" in r.json()["detail"]
    assert errors_of(r) == {("body", None)}


def test_the_yaml_template_matches_its_documented_response(client, headers):
    import jsonschema_rs
    import yaml

    from lastmile.journeys.services import template_save

    TeamFactory(slug="front")
    definition = {"slug": "t1", "name": "T", "steps": [{"key": "a", "title": "A", "team": "front"}]}
    template_save(definition=definition, now=NOW)
    schema = client.get("/api/openapi.json").json()
    content = schema["paths"]["/api/v1/journeys/templates/{slug}"]["get"]["responses"]["200"][
        "content"
    ]
    r = client.get("/api/v1/journeys/templates/t1", {"format": "yaml"}, **headers)
    assert r.status_code == 200
    documented = content[r["Content-Type"].split(";")[0]]["schema"]
    # Was {"type": "string"}: a YAML reader gets the definition, an object.
    assert jsonschema_rs.validator_for(documented).is_valid(yaml.safe_load(r.content))
    r = client.get("/api/v1/journeys/templates/t1", **headers)
    assert r.status_code == 200 and "application/json" in content


# --- point 7: dates in range -------------------------------------------------------------

OUT_OF_RANGE = [
    "0001-01-01T00:00:00+01:00",  # overflowed converting to UTC: a 500
    "9999-12-31T23:59:59-01:00",  # overflowed the other way
    "1969-12-31T23:59:59Z",
    "2200-01-01T00:00:01Z",
]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_occurred_at_out_of_range_is_422_naming_it(send, value):
    r = send("post", "/interactions", interaction(occurred_at=value))
    assert r.status_code == 422 and ("occurred_at", None) in errors_of(r)
    assert not Interaction.objects.exists()


@pytest.mark.parametrize("value", OUT_OF_RANGE[:2])
def test_due_at_out_of_range_is_422_naming_it(send, value):
    customer = CustomerFactory()
    body = {"kind": "task", "title": "t", "customer": {"id": customer.pk}, "due_at": value}
    r = send("post", "/loops", body)
    assert r.status_code == 422 and ("due_at", None) in errors_of(r)
    assert not Loop.objects.exists()


@pytest.mark.parametrize("value", OUT_OF_RANGE[:2])
def test_posted_at_out_of_range_is_422_naming_it(send, value):
    r = send("post", "/mentions/batch", mention(posted_at=value))
    assert r.status_code == 422 and ("posted_at", 0) in errors_of(r)
    assert not Mention.objects.exists()


@pytest.mark.parametrize("value", OUT_OF_RANGE[:2])
def test_due_before_out_of_range_is_422_naming_it(client, headers, value):
    r = client.get("/api/v1/loops", {"due_before": value}, **headers)
    assert r.status_code == 422 and ("due_before", None) in errors_of(r)


def test_the_edges_of_the_range_are_accepted(client, headers):
    for value in ("1970-01-01T00:00:00Z", "2200-01-01T00:00:00Z"):
        assert client.get("/api/v1/loops", {"due_before": value}, **headers).status_code == 200


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_forged_timeline_cursor_out_of_range_is_422(client, headers, at):
    import base64

    customer = CustomerFactory()
    cursor = base64.urlsafe_b64encode(f"{at}|1".encode()).decode().rstrip("=")
    r = client.get(f"/api/v1/customers/{customer.pk}/timeline", {"before": cursor}, **headers)
    assert r.status_code == 422 and ("before", None) in errors_of(r)
