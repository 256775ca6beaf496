"""The switches that harden a deployment: secure cookies, HSTS, session lifetime, limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SWITCHES = (
    "LASTMILE_SECURE_COOKIES",
    "LASTMILE_HSTS_SECONDS",
    "LASTMILE_TRUST_X_FORWARDED_PROTO",
    "LASTMILE_SESSION_SECONDS",
    "LASTMILE_LOGIN_FAILURE_LIMIT",
    "LASTMILE_LOGIN_COOLOFF_MINUTES",
    "LASTMILE_TOKEN_FAILURE_LIMIT",
)
READ = """
import json, lastmile.settings as s
print(json.dumps({
    "session_secure": s.SESSION_COOKIE_SECURE,
    "csrf_secure": s.CSRF_COOKIE_SECURE,
    "hsts": s.SECURE_HSTS_SECONDS,
    "proxy": getattr(s, "SECURE_PROXY_SSL_HEADER", None),
    "session_age": s.SESSION_COOKIE_AGE,
    "login_limit": s.AXES_FAILURE_LIMIT,
    "cooloff_s": s.AXES_COOLOFF_TIME.total_seconds(),
    "token_limit": s.LASTMILE_TOKEN_FAILURE_LIMIT,
}))
"""


def load_settings(tmp_path, **env):  # type: ignore[no-untyped-def]
    """Import the settings in a fresh interpreter with only these switches set."""
    base = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    return subprocess.run(
        [sys.executable, "-c", READ],
        env={**base, "LASTMILE_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
    )


def test_by_default_the_loopback_demo_works_on_plain_http(tmp_path):
    out = load_settings(tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "session_secure": False,
        "csrf_secure": False,
        "hsts": 0,
        "proxy": None,
        "session_age": 12 * 3600,
        "login_limit": 10,
        "cooloff_s": 15 * 60,
        "token_limit": 30,
    }


def test_a_deployment_turns_on_secure_cookies_hsts_and_a_shorter_session(tmp_path):
    out = load_settings(
        tmp_path,
        LASTMILE_SECURE_COOKIES="yes",
        LASTMILE_HSTS_SECONDS="31536000",
        LASTMILE_TRUST_X_FORWARDED_PROTO="1",
        LASTMILE_SESSION_SECONDS="3600",
        LASTMILE_LOGIN_FAILURE_LIMIT="5",
        LASTMILE_LOGIN_COOLOFF_MINUTES="30",
        LASTMILE_TOKEN_FAILURE_LIMIT="60",
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "session_secure": True,
        "csrf_secure": True,
        "hsts": 31536000,
        "proxy": ["HTTP_X_FORWARDED_PROTO", "https"],
        "session_age": 3600,
        "login_limit": 5,
        "cooloff_s": 30 * 60,
        "token_limit": 60,
    }


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        ("LASTMILE_SECURE_COOKIES", "maybe", "expected one of"),
        ("LASTMILE_HSTS_SECONDS", "-1", "must be 0 or more"),
        ("LASTMILE_HSTS_SECONDS", "a year", "whole number"),
        ("LASTMILE_SESSION_SECONDS", "30", "must be at least 60"),
        ("LASTMILE_LOGIN_FAILURE_LIMIT", "0", "must be at least 1"),
        ("LASTMILE_LOGIN_COOLOFF_MINUTES", "0", "must be at least 1"),
        ("LASTMILE_TOKEN_FAILURE_LIMIT", "lots", "whole number"),
    ],
)
def test_nonsense_in_a_switch_stops_the_start(tmp_path, name, raw, says):
    out = load_settings(tmp_path, **{name: raw})
    assert out.returncode != 0
    assert name in out.stderr and says in out.stderr


def test_secure_cookies_are_marked_secure_and_last_the_session_lifetime(client, alice, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SESSION_COOKIE_AGE = 3600
    alice.set_password("correct horse battery")
    alice.save()
    client.get("/login/", secure=True)
    assert client.cookies["csrftoken"]["secure"] is True
    response = client.post(
        "/login/", {"username": "alice", "password": "correct horse battery"}, secure=True
    )
    assert response.status_code == 302
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["secure"] is True and session["httponly"] is True
    assert session["max-age"] == 3600


def test_without_the_switch_cookies_are_not_marked_secure(client, alice):
    client.get("/login/")
    assert not client.cookies["csrftoken"]["secure"]


def test_hsts_is_sent_on_https_only_and_behind_a_trusted_proxy(client, settings, db):
    settings.SECURE_HSTS_SECONDS = 31536000
    assert client.get("/login/", secure=True)["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/login/")
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    behind_proxy = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert behind_proxy["Strict-Transport-Security"] == "max-age=31536000"
