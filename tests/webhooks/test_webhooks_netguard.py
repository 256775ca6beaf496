"""Webhook and integration targets on internal addresses are refused: when the URL is set
(API, admin, CLI, services) and again before every request, so DNS rebinding does not pass.

Nothing here sends anything anywhere but loopback: names are resolved by a fake
``socket.getaddrinfo`` (resolution is what would leave the process), and every test runs
with ``socket.socket.connect`` refusing any address that is not loopback, so a refusal that
came after a connection attempt fails the test instead of reaching the network.
"""

from __future__ import annotations

import ipaddress
import socket
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner, Result
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given
from hypothesis import strategies as st

from lastmile import settings as lm_settings
from lastmile.api.services import token_create
from lastmile.channels.models import OutboxMessage
from lastmile.channels.services import outbox_deliver
from lastmile.cli import main
from lastmile.core.errors import InvalidInput
from lastmile.core.netguard import TargetRefused, networks_parse, target_check
from lastmile.loops.services import loop_open
from lastmile.webhooks.models import Delivery, DeliveryAttempt, Integration, Subscription
from lastmile.webhooks.sender import post_signed
from lastmile.webhooks.services.integrations import (
    integration_create,
    message_send,
)
from lastmile.webhooks.services.subscriptions import deliveries_send, subscription_create
from tests.webhooks.factories import received_sms_case
from tests.webhooks.receiver import Receiver

PUBLIC = "93.184.216.34"
NAME = "hooks.example.test"


@pytest.fixture(autouse=True)
def only_loopback_connects(monkeypatch):
    """Any connection to an address that is not loopback fails the test before it is made."""
    real_connect = socket.socket.connect
    attempted: list = []

    def connect(self, address):
        if isinstance(address, tuple):
            ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
            if not ip.is_loopback:
                attempted.append(address)
                raise AssertionError(f"a connection to {address} was attempted")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield attempted
    assert attempted == []


class FakeDns:
    """``socket.getaddrinfo`` answering from a table; unknown names do not resolve, IP
    literals and localhost go to the real function (no query leaves the machine)."""

    def __init__(self, monkeypatch) -> None:
        self.table: dict[str, list[str]] = {}
        self.asked: list[str] = []
        self._real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in self.table:
            self.asked.append(name)
            return [
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, int(port or 0), 0, 0))
                if ":" in a
                else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port or 0)))
                for a in self.table[name]
            ]
        try:
            ipaddress.ip_address(name)
        except ValueError:
            if name != "localhost":
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return self._real(host, port, family, type, proto, flags)


@pytest.fixture
def dns(monkeypatch):
    return FakeDns(monkeypatch)


def port_of(receiver: Receiver) -> int:
    return receiver.server.server_address[1]


# --- every spelling of an internal address ----------------------------------------------------


INTERNAL = [
    "http://127.0.0.1/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fe80::1%25eth0]/",
    "http://10.0.0.5/",
    "http://172.16.0.1/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fec0::1]/",
    "http://0.0.0.0/",
    "http://0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://[2002:7f00:1::]/",
    "https://user:pw@127.0.0.1:8443/x",
]


@pytest.mark.parametrize("url", INTERNAL)
def test_an_internal_address_is_refused_in_every_spelling(url):
    with pytest.raises(TargetRefused) as refused:
        target_check(url, allowed=())
    assert refused.value.final and "internal addresses are refused" in refused.value.reason


@pytest.mark.parametrize(
    "url",
    [f"http://{PUBLIC}/", "https://[2606:2800:220:1:248:1893:25c8:1946]/h", "http://8.8.8.8:81/"],
)
def test_a_public_address_passes(url):
    assert target_check(url, allowed=()).addresses


PRIVATE_NETS = [
    ipaddress.ip_network(n)
    for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")
]


@given(net=st.sampled_from(PRIVATE_NETS), offset=st.integers(min_value=0))
def test_every_address_of_the_internal_ranges_is_refused_however_it_is_written(net, offset):
    ip = net[offset % net.num_addresses]
    spellings = [
        str(ip),
        str(int(ip)),
        hex(int(ip)),
        ".".join(f"0{b:o}" for b in ip.packed),
        f"[::ffff:{ip}]",
    ]
    for host in spellings:
        with pytest.raises(TargetRefused):
            target_check(f"http://{host}/", allowed=())


def test_a_name_resolving_to_the_metadata_service_is_refused(dns):
    dns.table[NAME] = ["169.254.169.254"]
    with pytest.raises(TargetRefused, match=r"hooks.example.test resolves to 169.254.169.254"):
        target_check(f"https://{NAME}/", allowed=())


def test_a_name_with_one_internal_address_among_public_ones_is_refused(dns):
    dns.table[NAME] = [PUBLIC, "10.0.0.5"]
    with pytest.raises(TargetRefused, match="10.0.0.5 is a private address"):
        target_check(f"https://{NAME}/", allowed=())


def test_an_allowed_network_lets_its_addresses_through_and_only_those(dns):
    dns.table[NAME] = ["10.1.2.3"]
    allowed = networks_parse("10.1.0.0/16")
    assert target_check(f"http://{NAME}/", allowed=allowed).addresses == ("10.1.2.3",)
    assert target_check("http://[::ffff:10.1.2.3]/", allowed=allowed).addresses
    with pytest.raises(TargetRefused):
        target_check("http://10.2.0.1/", allowed=allowed)


# --- the setting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["loopback", "10.0.0.0/33", "10.0.0.1/8", "127.0.0.0/8,x", "::1/129"]
)
def test_a_nonsense_allowed_networks_setting_fails_at_start_naming_it(monkeypatch, raw):
    monkeypatch.setenv("LASTMILE_WEBHOOK_ALLOWED_NETWORKS", raw)
    with pytest.raises(ImproperlyConfigured, match="LASTMILE_WEBHOOK_ALLOWED_NETWORKS"):
        lm_settings.envnetworks("LASTMILE_WEBHOOK_ALLOWED_NETWORKS")


def test_the_allowed_networks_setting_reads_cidrs_and_defaults_to_none(monkeypatch):
    monkeypatch.setenv("LASTMILE_WEBHOOK_ALLOWED_NETWORKS", " 127.0.0.0/8, ::1/128 ")
    assert lm_settings.envnetworks("LASTMILE_WEBHOOK_ALLOWED_NETWORKS") == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    monkeypatch.delenv("LASTMILE_WEBHOOK_ALLOWED_NETWORKS")
    assert lm_settings.envnetworks("LASTMILE_WEBHOOK_ALLOWED_NETWORKS") == ()


# --- refused where the URL is set ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("answer", [["169.254.169.254"], [PUBLIC, "10.0.0.5"], ["::1"]])
def test_a_subscription_to_an_internal_target_is_refused_naming_the_url(dns, now, answer):
    dns.table[NAME] = answer
    with pytest.raises(InvalidInput) as refused:
        subscription_create(name="crm", url=f"https://{NAME}/hook", events=["*"], now=now)
    [error] = refused.value.errors
    assert error.field == "url" and "internal addresses are refused" in error.reason
    assert Subscription.objects.count() == 0


@pytest.mark.django_db
def test_an_integration_with_an_internal_reply_url_is_refused(dns, now):
    dns.table[NAME] = ["192.168.0.10"]
    with pytest.raises(InvalidInput) as refused:
        integration_create(name="Shop SMS", channel="sms", url=f"http://{NAME}/out", now=now)
    assert [e.field for e in refused.value.errors] == ["url"]
    assert Integration.objects.count() == 0


@pytest.mark.django_db
def test_a_name_that_does_not_resolve_yet_is_accepted_and_checked_when_sent(dns, now):
    sub, _ = subscription_create(
        name="crm", url="https://later.example.test/hook", events=["*"], now=now
    )
    assert sub.pk and dns.asked == []


@pytest.mark.django_db
def test_the_api_answers_422_naming_the_url_and_writes_nothing(client, dns, now):
    dns.table[NAME] = ["169.254.169.254"]
    token = token_create(name="ops", now=now)[1]

    r = client.post(
        "/api/v1/webhooks/subscriptions",
        {"name": "erp", "url": f"http://{NAME}/latest", "events": ["*"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert r.status_code == 422, r.content
    body = r.json()
    assert body["code"] == "invalid" and [e["field"] for e in body["errors"]] == ["url"]
    assert "169.254.169.254" in body["errors"][0]["reason"]
    assert Subscription.objects.count() == 0


@pytest.mark.django_db
def test_the_admin_refuses_an_internal_url_when_adding_or_changing(staff, dns, now, team):
    dns.table[NAME] = ["10.0.0.5"]
    r = staff.post(
        "/admin/webhooks/subscription/add/",
        {"name": "erp", "url": f"https://{NAME}/h", "events": "*", "active": "on"},
    )
    assert r.status_code == 200 and "10.0.0.5 is a private address" in r.content.decode()
    assert Subscription.objects.count() == 0

    r = staff.post(
        "/admin/webhooks/integration/add/",
        {"name": "Shop SMS", "slug": "", "channel": "sms", "url": "http://127.0.0.1:9/x"},
    )
    assert r.status_code == 200 and "a loopback address" in r.content.decode()
    assert Integration.objects.count() == 0

    dns.table["good.example.test"] = [PUBLIC]
    integration, _ = integration_create(
        name="Shop SMS", channel="sms", url="https://good.example.test/out", now=now
    )
    r = staff.post(
        f"/admin/webhooks/integration/{integration.pk}/change/",
        {"name": "Shop SMS", "url": f"https://{NAME}/out", "team": team.pk, "active": "on"},
    )
    assert r.status_code == 200 and "10.0.0.5 is a private address" in r.content.decode()
    integration.refresh_from_db()
    assert integration.url == "https://good.example.test/out"


@pytest.mark.django_db
def test_the_cli_refuses_an_internal_reply_url_and_creates_nothing():
    result = lastmile_here(
        "integration",
        "create",
        "Shop SMS",
        "--channel",
        "sms",
        "--url",
        "http://169.254.169.254/latest/meta-data/",
    )

    assert result.exit_code == 1 and result.stdout == ""
    assert "url: 169.254.169.254 is a link-local address" in result.stderr
    assert Integration.objects.count() == 0


def lastmile_here(*args: str) -> Result:
    """``lastmile ARGS`` in this process, on the test's database and behind the guard above
    (stdout and stderr apart, as click 8.2+ keeps them; tests/webhooks/test_webhooks_cli.py
    runs the command as a real process)."""
    return CliRunner().invoke(main, list(args))


# --- refused again when sent: DNS rebinding ---------------------------------------------------


def test_the_sender_refuses_before_connecting(dns, receiver):
    dns.table[NAME] = ["127.0.0.1"]

    outcome = post_signed(
        url=f"http://{NAME}:{port_of(receiver)}/hook",
        secret="s",
        body=b"{}",
        now=datetime.now(UTC),
    )

    assert outcome.refused and outcome.status is None and "loopback" in outcome.error
    assert receiver.requests == []


@pytest.mark.django_db
def test_a_name_rebound_to_loopback_after_subscribing_is_refused_at_delivery(
    dns, receiver, customer, case, now
):
    # given a subscription made while the name resolved to a public address
    dns.table[NAME] = [PUBLIC]
    subscription_create(
        name="crm", url=f"http://{NAME}:{port_of(receiver)}/hook", events=["*"], now=now
    )
    loop_open(customer=customer, case=case, kind="task", title="Call back", now=now)
    # when the name now answers with the address of the receiver on this machine
    dns.table[NAME] = ["127.0.0.1"]
    result = deliveries_send(now=now)

    # then nothing reached the receiver, and the delivery failed for good with the reason
    assert receiver.requests == []
    assert (result.delivered, result.failed, result.retried) == (0, 1, 0)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 1, None)
    assert delivery.last_error.startswith("refused before sending: hooks.example.test resolves")
    assert "127.0.0.1 is a loopback address" in delivery.last_error
    [attempt] = DeliveryAttempt.objects.all()
    assert attempt.response_code is None and attempt.error == delivery.last_error
    # and a later run does not try again
    assert deliveries_send(now=now + timedelta(days=1)).failed == 0
    assert receiver.requests == []


@pytest.mark.django_db
def test_a_reply_to_an_integration_rebound_to_loopback_fails_unsent(
    dns, receiver, front_sms_conversation
):
    integration, case = front_sms_conversation
    dns.table[NAME] = ["127.0.0.1"]
    message_send(case=case, text="It left today.", now=datetime.now(UTC))

    outbox_deliver(now=datetime.now(UTC))

    assert receiver.requests == []
    queued = OutboxMessage.objects.get()
    assert queued.status == "failed" and queued.attempts == 1
    assert "refused before sending" in queued.last_error and "loopback" in queued.last_error


@pytest.fixture
def front_sms_conversation(dns, receiver, team):
    now = datetime.now(UTC)
    dns.table[NAME] = [PUBLIC]
    integration, _ = integration_create(
        name="Shop SMS",
        channel="sms",
        team=team,
        url=f"http://{NAME}:{port_of(receiver)}/out",
        now=now,
    )
    return integration, received_sms_case(integration=integration, now=now)


# --- allowed by the setting, and connected to the checked address -----------------------------


@pytest.mark.django_db
def test_an_allowed_network_is_delivered_to_with_the_name_kept_in_the_host_header(
    dns, receiver, customer, case, now, settings
):
    settings.LASTMILE_WEBHOOK_ALLOWED_NETWORKS = ("127.0.0.0/8",)
    dns.table[NAME] = ["127.0.0.1"]
    subscription_create(
        name="crm", url=f"http://{NAME}:{port_of(receiver)}/hook", events=["*"], now=now
    )
    loop_open(customer=customer, case=case, kind="task", title="Call back", now=now)

    assert deliveries_send(now=now).delivered == 1

    [got] = receiver.requests
    assert got.headers["host"] == f"{NAME}:{port_of(receiver)}" and got.path == "/hook"


def test_the_connection_goes_to_the_address_that_was_checked_not_a_second_lookup(
    dns, receiver, settings
):
    # given a name that answers 127.0.0.1 (allowed) once, then 169.254.169.254
    settings.LASTMILE_WEBHOOK_ALLOWED_NETWORKS = ("127.0.0.0/8",)
    answers = iter([["127.0.0.1"]])

    class Rebinding(dict):
        def __getitem__(self, name):
            return next(answers, ["169.254.169.254"])

        def __contains__(self, name):
            return name == NAME

    dns.table = Rebinding()

    outcome = post_signed(
        url=f"http://{NAME}:{port_of(receiver)}/hook", secret="s", body=b"{}", now=datetime.now(UTC)
    )

    # then it reached the checked address; the connect guard saw no other attempt
    assert outcome.ok and len(receiver.requests) == 1 and dns.asked == [NAME]


# --- what receivers answered stays with admins ------------------------------------------------


@pytest.mark.django_db
def test_a_receivers_answer_is_shown_to_admin_level_tokens_only(
    client, receiver, customer, case, alice, admin_user, settings, now
):
    settings.LASTMILE_WEBHOOK_ALLOWED_NETWORKS = ("127.0.0.0/8",)
    subscription_create(name="crm", url=receiver.url, events=["*"], now=now)
    loop_open(customer=customer, case=case, kind="task", title="Call back", now=now)
    receiver.reply(500, "internal page: db password hunter2")
    deliveries_send(now=now)
    delivery = Delivery.objects.get()
    tokens = {
        "integration": token_create(name="ops", now=now)[1],
        "admin": token_create(name="boss", agent=admin_user.agent, now=now)[1],
        "agent": token_create(name="alice", agent=alice.agent, now=now)[1],
    }

    def get(who: str, path: str):
        return client.get(f"/api/v1/webhooks{path}", HTTP_AUTHORIZATION=f"Bearer {tokens[who]}")

    for who in ("integration", "admin"):
        body = get(who, f"/deliveries/{delivery.pk}").json()
        assert body["response_excerpt"] == "internal page: db password hunter2"
        assert body["log"][0]["error"] == "HTTP 500: internal page: db password hunter2"
    for path in ("/deliveries", f"/deliveries/{delivery.pk}"):
        r = get("agent", path)
        assert r.status_code == 403 and "hunter2" not in r.content.decode()


@pytest.mark.django_db
def test_the_delivery_schemas_blank_the_answer_for_a_non_admin_caller(alice):
    from types import SimpleNamespace

    from lastmile.webhooks.api import AttemptOut

    attempt = DeliveryAttempt(
        number=1,
        at=datetime.now(UTC),
        response_code=500,
        response_excerpt="hunter2",
        error="HTTP 500: hunter2",
    )
    agent_request = SimpleNamespace(auth=SimpleNamespace(agent=alice.agent))
    integration_request = SimpleNamespace(auth=SimpleNamespace(agent=None))

    shown = AttemptOut.from_orm(attempt, context={"request": integration_request})
    hidden = AttemptOut.from_orm(attempt, context={"request": agent_request})

    assert (shown.response_excerpt, shown.error) == ("hunter2", "HTTP 500: hunter2")
    assert (hidden.response_excerpt, hidden.error) == ("", "HTTP 500")


# --- TLS: the address is pinned, the name is still the one verified ----------------------------


def _certificates(tmp_path, name: str) -> tuple[str, str, str]:
    """A CA and a server certificate it signed for ``name``: (ca.pem, cert.pem, key.pem)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    start = datetime.now(UTC) - timedelta(days=1)
    end = start + timedelta(days=3)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lastmile test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return tuple(str(p) for p in paths)  # type: ignore[return-value]


@pytest.fixture
def tls_receiver(tmp_path):
    """The receiver on 127.0.0.1 behind TLS, with a certificate for ``certified`` (set by
    the test before the first request); ``server_names`` records the SNI it was asked for."""
    import ssl

    r = Receiver()
    r.server_names = []

    def serve(certified: str) -> str:
        ca, cert, key = _certificates(tmp_path, certified)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda sock, name, ctx: r.server_names.append(name)
        r.server.socket = context.wrap_socket(r.server.socket, server_side=True)
        return ca

    r.serve = serve
    yield r
    r.close()


def test_https_goes_to_the_checked_address_with_the_name_as_sni_and_certificate(
    dns, tls_receiver, settings
):
    settings.LASTMILE_WEBHOOK_ALLOWED_NETWORKS = ("127.0.0.0/8",)
    dns.table[NAME] = ["127.0.0.1"]
    ca = tls_receiver.serve(NAME)

    outcome = post_signed(
        url=f"https://{NAME}:{port_of(tls_receiver)}/hook",
        secret="s",
        body=b"{}",
        now=datetime.now(UTC),
        verify=ca,
    )

    assert outcome.ok, outcome.error
    assert tls_receiver.server_names == [NAME] and dns.asked == [NAME]
    assert tls_receiver.requests[0].headers["host"] == f"{NAME}:{port_of(tls_receiver)}"


def test_https_refuses_a_certificate_for_another_name_even_at_the_checked_address(
    dns, tls_receiver, settings
):
    settings.LASTMILE_WEBHOOK_ALLOWED_NETWORKS = ("127.0.0.0/8",)
    dns.table[NAME] = ["127.0.0.1"]
    ca = tls_receiver.serve("someone-else.example.test")

    outcome = post_signed(
        url=f"https://{NAME}:{port_of(tls_receiver)}/hook",
        secret="s",
        body=b"{}",
        now=datetime.now(UTC),
        verify=ca,
    )

    assert not outcome.ok and outcome.status is None and "SSLError" in outcome.error
    assert tls_receiver.requests == []


# --- malformed URLs are a 422, never a 500 -----------------------------------------------------

MALFORMED = ["http://[::1/", "http://[example.com]/", "https://[fe80::1%zz/", "http://a]b/"]


@pytest.mark.parametrize("url", MALFORMED)
def test_a_malformed_url_is_refused_by_the_check_with_a_reason(url):
    with pytest.raises(TargetRefused) as refused:
        target_check(url, allowed=())
    assert refused.value.final and "not a valid URL" in refused.value.reason


@pytest.mark.django_db
@pytest.mark.parametrize("url", MALFORMED)
def test_the_api_answers_422_on_the_url_for_a_malformed_url_and_writes_nothing(client, url, now):
    token = token_create(name="ops", now=now)[1]

    r = client.post(
        "/api/v1/webhooks/subscriptions",
        {"name": "x", "url": url, "events": ["case.created"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert r.status_code == 422, r.content
    body = r.json()
    assert [e["field"] for e in body["errors"]] == ["url"]
    assert "not a valid URL" in body["errors"][0]["reason"]
    assert Subscription.objects.count() == 0


@pytest.mark.django_db
def test_the_admin_refuses_a_malformed_url_with_the_reason(staff):
    # Django's URLField refuses these before our check sees them, with its own words.
    for url in ("http://[::1/", "http://[example.com]/"):
        r = staff.post(
            "/admin/webhooks/subscription/add/",
            {"name": "erp", "url": url, "events": "*", "active": "on"},
        )
        assert r.status_code == 200 and "Enter a valid URL" in r.content.decode()
        r = staff.post(
            "/admin/webhooks/integration/add/",
            {"name": "Shop SMS", "slug": "", "channel": "sms", "url": url},
        )
        assert r.status_code == 200 and "Enter a valid URL" in r.content.decode()
    assert Subscription.objects.count() == Integration.objects.count() == 0


@pytest.mark.django_db
def test_the_cli_refuses_a_malformed_reply_url_and_creates_nothing():
    result = lastmile_here(
        "integration", "create", "Shop SMS", "--channel", "sms", "--url", "http://[::1/"
    )

    assert result.exit_code == 1 and result.stdout == ""
    assert "url:" in result.stderr and "not a valid URL" in result.stderr
    # A refusal, not a crash: click's own exit, where an uncaught error would be the
    # exception (and a traceback on a real process's stderr).
    assert isinstance(result.exception, SystemExit), result.exc_info
    assert Integration.objects.count() == 0


# --- international domain names go out in their ASCII (punycode) form ------------------------


@pytest.mark.parametrize(
    ("name", "ascii_name"),
    [("例え.jp", "xn--r8jz45g.jp"), ("exämple.test", "xn--exmple-cua.test")],
)
def test_an_international_name_is_sent_with_its_punycode_host_header(
    receiver, settings, name, ascii_name
):
    settings.LASTMILE_WEBHOOK_ALLOWED_NETWORKS = ("127.0.0.0/8",)
    asked: list[str] = []

    def resolver(host, port):
        asked.append(host)
        return ["127.0.0.1"]

    outcome = post_signed(
        url=f"http://{name}:{port_of(receiver)}/x",
        secret="s",
        body=b"{}",
        now=datetime.now(UTC),
        resolver=resolver,
    )

    assert outcome.ok, outcome.error
    [got] = receiver.requests
    assert got.headers["host"] == f"{ascii_name}:{port_of(receiver)}" and got.path == "/x"
    assert asked == [ascii_name]


def test_a_name_written_with_full_width_digits_is_the_address_it_spells():
    with pytest.raises(TargetRefused) as refused:
        target_check("http://１２７.０.０.１/", allowed=())
    assert "127.0.0.1" in refused.value.reason and "loopback" in refused.value.reason


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["a\u200db.example", "\u2603.example", "\u0301a.example"])
def test_the_api_refuses_a_name_that_has_no_idna_form_and_writes_nothing(client, dns, now, host):
    token = token_create(name="ops", now=now)[1]

    r = client.post(
        "/api/v1/webhooks/subscriptions",
        {"name": "x", "url": f"http://{host}/hook", "events": ["*"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert r.status_code == 422, r.content
    assert [e["field"] for e in r.json()["errors"]] == ["url"]
    assert "international domain name" in r.json()["errors"][0]["reason"]
    assert Subscription.objects.count() == 0


@pytest.mark.django_db
def test_an_international_subscription_is_delivered_and_does_not_stop_the_others(
    dns, receiver, customer, case, now, settings
):
    # given two subscriptions on this machine, one of them under an international name
    settings.LASTMILE_WEBHOOK_ALLOWED_NETWORKS = ("127.0.0.0/8",)
    dns.table["例え.jp"] = dns.table["xn--r8jz45g.jp"] = ["127.0.0.1"]
    subscription_create(
        name="intl", url=f"http://例え.jp:{port_of(receiver)}/a", events=["*"], now=now
    )
    subscription_create(name="plain", url=receiver.url, events=["*"], now=now)
    loop_open(customer=customer, case=case, kind="task", title="Call back", now=now)

    # when the worker sends them
    result = deliveries_send(now=now)

    # then both were delivered, the international one with its ASCII Host header
    assert result.delivered == Delivery.objects.count() and result.failed == 0
    hosts = {r.headers["host"] for r in receiver.requests}
    assert f"xn--r8jz45g.jp:{port_of(receiver)}" in hosts


@pytest.mark.django_db
def test_a_delivery_that_cannot_be_sent_is_its_own_failure_and_the_others_go_out(
    receiver, customer, case, now, settings
):
    # given a delivery whose request cannot even be written (an event name no HTTP header
    # can carry) queued before an ordinary one
    settings.LASTMILE_WEBHOOK_ALLOWED_NETWORKS = ("127.0.0.0/8",)
    subscription_create(name="crm", url=receiver.url, events=["*"], now=now)
    subscription_create(name="erp", url=receiver.url, events=["*"], now=now)
    loop_open(customer=customer, case=case, kind="task", title="Call back", now=now)
    first = Delivery.objects.order_by("id").first()
    Delivery.objects.filter(pk=first.pk).update(event="case.作成", next_attempt_at=now)
    others = Delivery.objects.exclude(pk=first.pk).count()
    assert others >= 1

    # when the worker runs
    result = deliveries_send(now=now)

    # then the others went out, and the bad one records its own failure, to be retried
    assert result.delivered == others and result.retried == 1
    first.refresh_from_db()
    assert first.status == "pending" and first.attempts == 1 and first.last_error
    [attempt] = DeliveryAttempt.objects.filter(delivery=first)
    assert attempt.response_code is None and attempt.error == first.last_error
    assert len(receiver.requests) == others


# --- the address table: deprecated IPv6 site-local ------------------------------------------


@pytest.mark.parametrize("address", ["fec0::1", "feff:ffff::1", "fed0::5"])
def test_a_site_local_ipv6_address_is_refused(address):
    from lastmile.core.netguard import address_refusal

    assert "site-local" in (address_refusal(address, allowed=()) or "")
    with pytest.raises(TargetRefused):
        target_check(f"http://[{address}]/", allowed=())
