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
    settings.PASSWORD_HASHERS = ["tests.people.test_login_limits.CountingHasher"]
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


# --- behind a reverse proxy -------------------------------------------------------------------
# The test client connects from 127.0.0.1: that is the proxy when LASTMILE_TRUSTED_PROXIES
# names it. Clients behind it are told apart by the address the proxy appends to
# X-Forwarded-For; whatever a client wrote there itself (the left-most entries) is not believed.

CLIENT_A = "203.0.113.7"
CLIENT_B = "203.0.113.8"


@pytest.fixture
def behind_proxy(settings):
    from lastmile.core.netguard import networks_parse

    settings.LASTMILE_TRUSTED_PROXIES = networks_parse("127.0.0.1/32")


def via_proxy(client_address, spoofed=""):
    """What the proxy forwards: the client's own X-Forwarded-For, then the address it saw."""
    return {"HTTP_X_FORWARDED_FOR": f"{spoofed}, {client_address}" if spoofed else client_address}


def lock_out_address(client, settings, **extra):
    """Unknown usernames up to the limit: only the address is counted, no account."""
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(client, f"nobody{n}", "wrong", **extra)


def test_without_trusted_proxies_a_forwarded_for_header_is_ignored(client, settings, users):
    # Given no LASTMILE_TRUSTED_PROXIES (the default) and an address locked out
    lock_out_address(client, settings, **via_proxy(CLIENT_A))
    # When the same connection claims to be someone else
    refused = login(client, "bob", PASSWORD, **via_proxy(CLIENT_B))
    # Then it is still the address it connected from, and that is locked
    assert refused.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


def test_behind_a_trusted_proxy_each_client_has_its_own_count(
    client, settings, users, behind_proxy
):
    # Given client A locked out behind the proxy
    lock_out_address(client, settings, **via_proxy(CLIENT_A))
    # Then A is refused, even with the right password
    assert login(client, "alice", PASSWORD, **via_proxy(CLIENT_A)).status_code == 429
    # and B, behind the same proxy, still logs in
    assert login(client, "bob", PASSWORD, **via_proxy(CLIENT_B)).status_code == 302
    # and the failures were counted against A, not the proxy
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {CLIENT_A}


def test_a_spoofed_left_most_forwarded_for_does_not_let_a_locked_out_client_escape(
    client, settings, users, behind_proxy
):
    # Given client A locked out behind the proxy
    lock_out_address(client, settings, **via_proxy(CLIENT_A))
    failures_before = list(AccessAttempt.objects.values_list("ip_address", "failures_since_start"))
    # When A sends its own X-Forwarded-For naming B (the proxy appends A's real address)
    refused = login(client, "bob", PASSWORD, **via_proxy(CLIENT_A, spoofed=CLIENT_B))
    # Then A is still refused and nothing was counted against B
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session
    assert (
        list(AccessAttempt.objects.values_list("ip_address", "failures_since_start"))
        == failures_before
    )


def test_a_direct_connection_from_outside_the_trusted_proxies_is_not_believed(
    client, settings, users, behind_proxy
):
    # Given a client that reaches the server without the proxy, from 127.0.0.2
    direct = {"REMOTE_ADDR": OTHER_ADDRESS}
    lock_out_address(client, settings, **direct, **via_proxy(CLIENT_A))
    # When it claims another address in X-Forwarded-For
    refused = login(client, "bob", PASSWORD, **direct, **via_proxy(CLIENT_B))
    # Then it is counted and refused as the address it connected from
    assert refused.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {OTHER_ADDRESS}


@pytest.mark.parametrize("raw", ["2", "proxy", "10.0.0.1/8", "10.0.0.0/8,x", "0.0.0.0/0", "::/0"])
def test_a_nonsense_trusted_proxies_setting_fails_at_start_naming_it(monkeypatch, raw):
    # a count, a name, host bits, a typo, or "everyone is a proxy" (any client could then
    # name any address) all stop the start
    from django.core.exceptions import ImproperlyConfigured

    from lastmile import settings as lm_settings

    monkeypatch.setenv("LASTMILE_TRUSTED_PROXIES", raw)
    with pytest.raises(ImproperlyConfigured, match="LASTMILE_TRUSTED_PROXIES"):
        lm_settings.envproxies("LASTMILE_TRUSTED_PROXIES")


def test_the_trusted_proxies_setting_reads_cidrs_and_defaults_to_none(monkeypatch):
    import ipaddress

    from lastmile import settings as lm_settings

    monkeypatch.setenv("LASTMILE_TRUSTED_PROXIES", " 10.0.0.0/8, ::1 ")
    assert lm_settings.envproxies("LASTMILE_TRUSTED_PROXIES") == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    monkeypatch.delenv("LASTMILE_TRUSTED_PROXIES")
    assert lm_settings.envproxies("LASTMILE_TRUSTED_PROXIES") == ()


@pytest.mark.parametrize(
    ("peer", "forwarded", "counted_as"),
    [
        # two proxies in a row: both skipped, the client is the next address left of them
        ("10.0.0.1", "198.51.100.1, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        # a request the proxy made itself
        ("10.0.0.1", "", "10.0.0.1"),
        # not an address where a proxy should have written one: counted as that proxy
        ("10.0.0.1", "203.0.113.7, bogus", "10.0.0.1"),
        ("10.0.0.1", "bogus, 10.0.0.2", "10.0.0.2"),
        # an IPv4 client written the IPv6 way is the same client
        ("10.0.0.1", "::ffff:203.0.113.7", "203.0.113.7"),
        # a peer that is no proxy: its header is not read
        ("192.0.2.1", "203.0.113.7", "192.0.2.1"),
    ],
)
def test_the_client_address_is_the_right_most_one_no_trusted_proxy_added(
    settings, rf, peer, forwarded, counted_as
):
    from lastmile.core.clientip import client_address
    from lastmile.core.netguard import networks_parse

    settings.LASTMILE_TRUSTED_PROXIES = networks_parse("10.0.0.0/8")
    request = rf.get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == counted_as
