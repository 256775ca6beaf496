"""The signed POST against a real HTTP receiver (tests/webhooks/receiver.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lastmile.webhooks.sender import EXCERPT_BYTES, post_signed
from tests.webhooks.receiver import closed_port_url

# The receiver listens on 127.0.0.1, an internal address refused unless allowed.
pytestmark = pytest.mark.usefixtures("webhooks_to_loopback")


# --- the signed POST ------------------------------------------------------------------------


def test_a_signed_post_arrives_with_a_signature_the_receiver_can_verify(receiver):
    now = datetime.now(UTC)
    outcome = post_signed(
        url=receiver.url, secret="whsec_s", body=b'{"a":1}', now=now, headers={"X-Extra": "1"}
    )

    assert outcome.ok and outcome.status == 200 and outcome.excerpt == '{"ok": true}'
    [got] = receiver.requests
    assert got.body == b'{"a":1}' and got.headers["content-type"] == "application/json"
    assert got.headers["x-extra"] == "1" and got.headers["user-agent"].startswith("lastmile")
    assert got.verify("whsec_s", now=now) == int(now.timestamp())


def test_an_error_answer_is_reported_with_the_start_of_its_body(receiver):
    receiver.reply(503, "x" * 5000)
    outcome = post_signed(url=receiver.url, secret="s", body=b"{}", now=datetime.now(UTC))

    assert not outcome.ok and outcome.status == 503
    assert outcome.excerpt == "x" * EXCERPT_BYTES
    assert outcome.describe().startswith("HTTP 503: xxx")


def test_a_redirect_is_not_followed_and_counts_as_a_failure(receiver):
    receiver.reply(302, "", {"Location": receiver.url + "/elsewhere"})
    outcome = post_signed(url=receiver.url, secret="s", body=b"{}", now=datetime.now(UTC))

    assert not outcome.ok and outcome.status == 302 and len(receiver.requests) == 1


def test_nobody_listening_is_an_outcome_with_the_error_not_an_exception():
    outcome = post_signed(url=closed_port_url(), secret="s", body=b"{}", now=datetime.now(UTC))

    assert not outcome.ok and outcome.status is None
    assert "ConnectionError" in outcome.error and outcome.describe() == outcome.error
