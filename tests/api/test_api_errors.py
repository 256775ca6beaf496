"""Every error on the API's paths is the JSON error shape, 500 included (issue 11, point 9).

``{code, detail, errors}``, never an HTML page or a traceback, with DEBUG on or off: from an
operation that raises, from a plain view, for a path or a method that does not exist, and
for the body size limit that answers before ninja.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.api_error_urls")]


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.fixture
def client(client):
    client.raise_request_exception = False  # answer as a server would, not re-raise
    return client


def shape(response):
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "detail", "errors"}
    assert "Traceback" not in response.content.decode()
    return body


@pytest.mark.parametrize("path", ["/api/broken/boom", "/api/plain-boom", "/v1/plain-boom"])
def test_an_unexpected_error_is_a_json_500_and_its_traceback_is_logged(client, debug, path, caplog):
    with caplog.at_level(logging.ERROR):
        r = client.get(path)
    assert r.status_code == 500
    assert shape(r)["code"] == "server_error"
    assert "missing" not in r.content.decode() and "outside ninja" not in r.content.decode()
    logged = [rec for rec in caplog.records if rec.exc_info]
    assert logged and logged[-1].levelno == logging.ERROR


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/v1/nothing-here", "/api/nothing"])
def test_an_unknown_api_path_is_a_json_404(client, debug, path):
    r = client.get(path)
    assert r.status_code == 404 and shape(r)["code"] == "not_found"


def test_an_unknown_method_is_a_json_405_with_allow(client, debug):
    r = client.delete("/api/v1/cases")
    assert r.status_code == 405 and shape(r)["code"] == "method_not_allowed"
    assert "GET" in r["Allow"]


def test_a_segment_path_with_a_wrong_method_is_a_json_405(client, debug):
    r = client.get("/v1/track")
    assert r.status_code == 405 and shape(r)["code"] == "method_not_allowed"


def test_the_body_size_limit_answers_in_the_json_shape(client, debug, settings):
    settings.LASTMILE_MAX_BODY_BYTES = 100
    r = client.post("/api/v1/cases", "x" * 200, content_type="application/json")
    assert r.status_code == 413 and shape(r)["code"] == "too_large"


def test_pages_for_people_keep_their_html_error_pages(client, settings):
    settings.DEBUG = False
    r = client.get("/no-such-page/")
    assert r.status_code == 404 and "application/json" not in r["Content-Type"]


# Django's own refusals raised inside an operation keep their 4xx: the catch-all for bugs
# must not turn them into a 500 (review of issue 11).


@pytest.fixture
def bearer(db):
    from lastmile.api.services import token_create

    token = token_create(name="errors", now=datetime(2026, 11, 23, 10, 0, tzinfo=UTC))[1]
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_too_many_query_parameters_is_a_json_400_that_says_so(client, debug, bearer, settings):
    # given more query parameters than Django parses (DATA_UPLOAD_MAX_NUMBER_FIELDS)
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
    query = "&".join(f"a{i}=1" for i in range(1200))
    # when
    r = client.get(f"/api/v1/cases?{query}", **bearer)
    # then
    assert r.status_code == 400
    body = shape(r)
    assert body["code"] == "bad_request"
    assert "too many query parameters" in body["detail"] and "1000" in body["detail"]


@pytest.mark.parametrize("path", ["/api/broken/suspicious", "/api/broken/bad-host"])
def test_a_suspicious_request_is_a_json_400_without_django_s_message(client, debug, path):
    r = client.get(path)
    assert r.status_code == 400
    body = shape(r)
    assert body["code"] == "bad_request"
    assert "secret" not in r.content.decode() and "evil.example" not in r.content.decode()


def test_a_suspicious_request_is_logged_as_django_logs_it(client, caplog):
    with caplog.at_level(logging.ERROR, logger="django.security"):
        client.get("/api/broken/suspicious")
    assert [rec.name for rec in caplog.records] == ["django.security.SuspiciousOperation"]


def test_django_s_permission_denied_is_a_json_403(client, debug):
    r = client.get("/api/broken/forbidden")
    assert r.status_code == 403
    assert shape(r)["code"] == "forbidden"


# The middleware rebuilds the body of a non-JSON error, not its headers: the security headers
# the inner middleware added stay (review of issue 11).

SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
)


def security_headers(response):
    return {name: response.get(name) for name in SECURITY_HEADERS}


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("get", "/api/", 404),
        ("get", "/v1/nope", 404),
        ("get", "/api/plain-boom", 500),
        ("get", "/api/plain-conflict", 409),
    ],
)
def test_a_rebuilt_error_keeps_the_security_headers_of_a_normal_api_response(
    client, debug, bearer, method, path, status
):
    # given the headers of an API response that the middleware leaves alone
    normal = client.get("/api/v1/cases", **bearer)
    assert normal.status_code == 200
    expected = security_headers(normal)
    assert expected["Content-Security-Policy"] and expected["X-Frame-Options"]
    # when
    r = getattr(client, method)(path)
    # then
    assert r.status_code == status
    shape(r)
    assert security_headers(r) == expected


def test_a_rebuilt_error_keeps_its_headers_and_cookies_but_not_the_body_s(client):
    r = client.get("/api/plain-conflict")
    assert r.status_code == 409
    assert shape(r)["code"] == "error"
    assert r["Vary"] == "Cookie" and r["Cache-Control"] == "no-store"
    assert r.cookies["kept"].value == "yes"
    assert not r.has_header("ETag") and not r.has_header("Content-Language")
    assert int(r["Content-Length"]) == len(r.content)
