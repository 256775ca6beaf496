"""Failed logins are limited per account and per address; a refused attempt costs no hash."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.hashers import MD5PasswordHasher
from django.utils import timezone

PASSWORD = "correct horse battery"
OTHER_ADDRESS = "127.0.0.2"


class CountingHasher(MD5PasswordHasher):
    """A real hasher that counts how often it hashes (checking a password hashes once)."""

    algorithm = "counting_md5"
    hashed = 0

    def encode(self, password, salt):  # type: ignore[no-untyped-def]
        CountingHasher.hashed += 1
        return super().encode(password, salt)


@pytest.fixture(autouse=True)
def counting_hasher(settings):
    settings.PASSWORD_HASHERS = ["tests.test_login_limits.CountingHasher"]
    return CountingHasher


@pytest.fixture
def users(alice, bob, admin_user):
    for user in (alice, bob, admin_user):
        user.set_password(PASSWORD)
        user.is_staff = user == admin_user
        user.save()
    return alice, bob, admin_user


def login(client, username, password, path="/login/", **extra):
    return client.post(path, {"username": username, "password": password}, **extra)


def lock_out(client, settings, username, path="/login/"):
    """Wrong passwords up to the limit; the last one locks the account and the address."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, username, "wrong", path).status_code == 200
    last = login(client, username, "wrong", path)
    assert last.status_code == 429
    return last


def test_after_the_limit_the_right_password_is_refused_without_hashing(
    client, settings, users, counting_hasher
):
    # Given as many wrong passwords for alice as the limit allows
    lock_out(client, settings, "alice")
    # When she types the right one
    hashed_before = counting_hasher.hashed
    failures_before = list(AccessAttempt.objects.values_list("failures_since_start", flat=True))
    refused = login(client, "alice", PASSWORD)
    # Then the login page says why, with 429, no password was hashed and no one is logged in
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(settings.LASTMILE_LOGIN_COOLOFF_MINUTES * 60)
    page = refused.content.decode()
    assert "Too many failed logins for this account or from this address" in page
    assert 'id="id_password"' in page
    assert counting_hasher.hashed == hashed_before
    assert "_auth_user_id" not in client.session
    # and the refusal wrote nothing (the lockout is not extended by it)
    assert list(AccessAttempt.objects.values_list("failures_since_start", flat=True)) == (
        failures_before
    )


def test_wrong_passwords_under_the_limit_are_answered_as_usual(client, settings, users):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        wrong = login(client, "alice", "wrong")
        assert wrong.status_code == 200 and "Too many" not in wrong.content.decode()
    assert login(client, "alice", PASSWORD).status_code == 302


def test_the_lock_holds_the_account_and_the_address_and_no_one_else(client, settings, users):
    lock_out(client, settings, "alice")
    # alice from elsewhere: the account is locked
    assert login(client, "alice", PASSWORD, REMOTE_ADDR=OTHER_ADDRESS).status_code == 429
    # bob from the same address: the address is locked
    assert login(client, "bob", PASSWORD).status_code == 429
    # bob from elsewhere is not affected
    assert login(client, "bob", PASSWORD, REMOTE_ADDR=OTHER_ADDRESS).status_code == 302


def test_after_the_cool_off_the_right_password_works(client, settings, users):
    lock_out(client, settings, "alice")
    later = timezone.now() + timedelta(minutes=settings.LASTMILE_LOGIN_COOLOFF_MINUTES, seconds=1)
    with time_machine.travel(later, tick=False):
        assert login(client, "alice", PASSWORD).status_code == 302


def test_a_minute_before_the_cool_off_ends_it_is_still_refused(client, settings, users):
    lock_out(client, settings, "alice")
    minutes = settings.LASTMILE_LOGIN_COOLOFF_MINUTES
    earlier = timezone.now() + timedelta(minutes=minutes - 1)
    with time_machine.travel(earlier, tick=False):
        assert login(client, "alice", PASSWORD).status_code == 429


def test_the_admin_login_is_limited_too_and_says_why(client, settings, users, counting_hasher):
    lock_out(client, settings, "boss", path="/admin/login/")
    hashed_before = counting_hasher.hashed
    refused = login(client, "boss", PASSWORD, path="/admin/login/")
    assert refused.status_code == 429
    page = refused.content.decode()
    assert "Too many failed logins" in page and "lastmile administration" in page
    assert counting_hasher.hashed == hashed_before


def test_unknown_usernames_count_against_the_address(client, settings, users):
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(client, f"nobody{n}", "wrong")
    assert login(client, "alice", PASSWORD).status_code == 429


def test_logging_in_without_a_request_is_not_counted(client, users):
    # Client.login() calls authenticate() without a request: nothing to count it against.
    assert client.login(username="alice", password=PASSWORD)


def test_refused_attempts_do_not_extend_the_lockout(client, settings, users):
    lock_out(client, settings, "alice")
    minutes = settings.LASTMILE_LOGIN_COOLOFF_MINUTES
    with time_machine.travel(timezone.now() + timedelta(minutes=minutes - 1), tick=False):
        assert login(client, "alice", "wrong").status_code == 429
    with time_machine.travel(timezone.now() + timedelta(minutes=minutes, seconds=1), tick=False):
        assert login(client, "alice", PASSWORD).status_code == 302
