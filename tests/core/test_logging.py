"""LASTMILE_LOG_FORMAT=json: one JSON object a line, with the request being served; the
default stays plain text."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys

import pytest

from lastmile.core.logging import RequestContextFilter, formatter_config

# The settings' LOGGING applied as Django applies it, then a line and a traceback logged.
SCRIPT = """
import logging, logging.config
from lastmile import settings
logging.config.dictConfig(settings.LOGGING)
logging.getLogger("lastmile.test").warning("hello %s", "world")
try:
    raise ValueError("boom")
except ValueError:
    logging.getLogger("lastmile.test").exception("failed")
"""


def run(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    environ = {k: v for k, v in os.environ.items() if k != "LASTMILE_LOG_FORMAT"}
    environ.update(LASTMILE_VAR_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], env=environ, capture_output=True, text=True, timeout=60
    )


def test_json_format_writes_one_parseable_object_a_line(tmp_path):
    done = run(tmp_path, LASTMILE_LOG_FORMAT="json")
    assert done.returncode == 0, done.stderr
    hello, failed = [json.loads(line) for line in done.stderr.splitlines()]
    assert {"timestamp", "level", "logger", "message"} <= hello.keys()
    assert (hello["level"], hello["logger"], hello["message"]) == (
        "WARNING",
        "lastmile.test",
        "hello world",
    )
    assert hello["timestamp"].endswith("+00:00")
    assert "request_id" not in hello  # no request being served
    assert failed["level"] == "ERROR" and "ValueError: boom" in failed["exc_info"]


def test_the_default_format_stays_plain_text(tmp_path):
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == "hello world"
    assert "Traceback" in done.stderr


def test_an_unknown_format_stops_the_start_naming_the_choices(tmp_path):
    done = run(tmp_path, LASTMILE_LOG_FORMAT="xml")
    assert done.returncode != 0
    assert "LASTMILE_LOG_FORMAT='xml': expected one of text, json" in done.stderr


@pytest.fixture
def json_lines():
    """The JSON formatter and request filter of LASTMILE_LOG_FORMAT=json on Django's request
    logger, for this test; the lines it wrote."""
    factory = formatter_config()
    formatter_class = factory.pop("()")
    module, _, name = formatter_class.rpartition(".")
    formatter = getattr(__import__(module, fromlist=[name]), name)(**factory)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RequestContextFilter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)


@pytest.mark.django_db
def test_a_line_logged_while_serving_a_request_names_its_id_route_and_method(
    client, settings, json_lines
):
    # given the metrics endpoint off (a 404 that Django logs, on a route that resolved)
    settings.LASTMILE_METRICS_TOKEN = ""
    # when a request comes through a proxy that named it
    response = client.get("/metrics", HTTP_X_REQUEST_ID="req-42")
    # then Django's line about it carries the request's id, route and method
    (line,) = json_lines()
    assert line["message"] == "Not Found: /metrics"
    assert (line["request_id"], line["route"], line["method"]) == ("req-42", "metrics", "GET")
    assert response["X-Request-ID"] == "req-42"


@pytest.mark.django_db
def test_a_request_without_a_usable_id_gets_a_new_one(client, settings, json_lines):
    settings.LASTMILE_METRICS_TOKEN = ""
    response = client.get("/metrics", HTTP_X_REQUEST_ID="bad id\nwith newline")
    (line,) = json_lines()
    assert line["request_id"] == response["X-Request-ID"]
    # a new id of 32 hex digits (which may spell "bad" by chance), not the one sent
    assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])
    assert " " not in line["request_id"] and "\n" not in line["request_id"]
