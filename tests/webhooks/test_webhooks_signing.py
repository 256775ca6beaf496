"""The webhook signature scheme: HMAC-SHA256 over f"{timestamp}." + raw body, 5 minutes' skew."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lastmile.webhooks.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    secret_generate,
    signature_headers,
    signature_verify,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SECRET = "whsec_test-secret"
BODY = b'{"channel":"sms","text":"hello"}'


def verify(headers: dict[str, str], *, body: bytes = BODY, secret: str = SECRET, now=NOW) -> int:
    return signature_verify(
        secret=secret,
        body=body,
        timestamp=headers.get(TIMESTAMP_HEADER),
        signature=headers.get(SIGNATURE_HEADER),
        now=now,
    )


def refusal(headers: dict[str, str], **kw) -> SignatureError:
    with pytest.raises(SignatureError) as info:
        verify(headers, **kw)
    return info.value


def test_the_signature_is_the_documented_hmac_of_timestamp_dot_body():
    headers = signature_headers(SECRET, BODY, now=NOW)

    ts = int(NOW.timestamp())
    expected = hmac.new(SECRET.encode(), f"{ts}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert headers == {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: f"v1={expected}"}
    assert verify(headers) == ts


def test_a_request_signed_five_minutes_ago_is_accepted_and_one_second_more_is_a_replay():
    signed = signature_headers(SECRET, BODY, now=NOW)

    assert verify(signed, now=NOW + timedelta(minutes=5))
    error = refusal(signed, now=NOW + timedelta(minutes=5, seconds=1))
    assert error.code == "timestamp_stale" and error.header == TIMESTAMP_HEADER
    assert "301 s ago" in error.reason and "replay" in error.reason


def test_a_timestamp_more_than_five_minutes_ahead_is_refused_too():
    signed = signature_headers(SECRET, BODY, now=NOW + timedelta(minutes=5))
    assert verify(signed)

    error = refusal(signature_headers(SECRET, BODY, now=NOW + timedelta(minutes=5, seconds=1)))
    assert error.code == "timestamp_future" and "clock" in error.reason


def test_a_changed_body_a_wrong_secret_or_a_refreshed_timestamp_do_not_verify():
    signed = signature_headers(SECRET, BODY, now=NOW)

    assert refusal(signed, body=BODY + b" ").code == "signature_invalid"
    assert refusal(signed, secret=SECRET + "x").code == "signature_invalid"
    refreshed = {**signed, TIMESTAMP_HEADER: str(int(NOW.timestamp()) + 1)}
    assert refusal(refreshed).code == "signature_invalid"


@pytest.mark.parametrize(
    "headers, code, header",
    [
        ({}, "signature_missing", TIMESTAMP_HEADER),
        ({TIMESTAMP_HEADER: "1795428000"}, "signature_missing", SIGNATURE_HEADER),
        (
            {TIMESTAMP_HEADER: "soon", SIGNATURE_HEADER: "v1=ab"},
            "timestamp_invalid",
            TIMESTAMP_HEADER,
        ),
        (
            {TIMESTAMP_HEADER: "1.5", SIGNATURE_HEADER: "v1=ab"},
            "timestamp_invalid",
            TIMESTAMP_HEADER,
        ),
        (
            {TIMESTAMP_HEADER: "١٢٣", SIGNATURE_HEADER: "v1=ab"},
            "timestamp_invalid",
            TIMESTAMP_HEADER,
        ),
        (
            {TIMESTAMP_HEADER: "1795428000", SIGNATURE_HEADER: "sha256=ab"},
            "signature_invalid",
            SIGNATURE_HEADER,
        ),
    ],
)
def test_missing_or_malformed_headers_say_which_and_why(headers, code, header):
    error = refusal(headers)
    assert (error.code, error.header) == (code, header) and error.reason


def test_one_matching_signature_among_several_is_enough_while_a_secret_rotates():
    new = signature_headers(SECRET, BODY, now=NOW)
    old = signature_headers("whsec_old", BODY, now=NOW)
    both = {**new, SIGNATURE_HEADER: f"{old[SIGNATURE_HEADER]}, {new[SIGNATURE_HEADER]}"}

    assert verify(both)
    assert refusal({**new, SIGNATURE_HEADER: old[SIGNATURE_HEADER]}).code == "signature_invalid"


def test_generated_secrets_are_long_random_and_recognisable():
    a, b = secret_generate(), secret_generate()
    assert a != b and a.startswith("whsec_") and len(a) >= 40


@given(body=st.binary(max_size=2000), secret=st.text(min_size=1, max_size=80), flip=st.integers())
def test_any_body_verifies_as_sent_and_no_longer_after_one_byte_changes(body, secret, flip):
    signed = signature_headers(secret, body, now=NOW)
    assert verify(signed, body=body, secret=secret) == int(NOW.timestamp())
    if body:
        i = flip % len(body)
        changed = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
        with pytest.raises(SignatureError):
            verify(signed, body=changed, secret=secret)
