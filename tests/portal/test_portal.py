"""The customer portal: magic links, and that a customer sees nothing of another customer."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import signing

from lastmile.cases.services import case_create
from lastmile.channels.models import OutboxMessage
from lastmile.core.errors import InvalidInput
from lastmile.customers.models import Direction, Interaction
from lastmile.loops.models import Loop
from lastmile.portal.models import PortalLink
from lastmile.portal.services import (
    LinkRefused,
    portal_link_check,
    portal_link_issue,
    portal_link_redeem,
    upload_check,
)
from tests.portal.fixtures import signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("portal_clock")]


@pytest.fixture
def ann_case(ann, team, now):
    return case_create(
        customer=ann, subject="Card not arriving", team=team, now=now, channel="email"
    )


@pytest.fixture
def ben_case(ben, team, now):
    return case_create(customer=ben, subject="Ben's secret matter", team=team, now=now)


def test_issue_emails_the_link_through_the_outbox(ann, now):
    issued = portal_link_issue(customer=ann, now=now)
    message = OutboxMessage.objects.get()
    assert message.recipient == "ann@example.com"
    assert issued.path in message.body
    assert PortalLink.objects.get().sent_to == "ann@example.com"


def test_a_customer_without_email_cannot_be_sent_a_link(customer, now):
    with pytest.raises(InvalidInput):
        portal_link_issue(customer=customer, now=now)
    assert not PortalLink.objects.exists() and not OutboxMessage.objects.exists()


def test_a_link_starts_one_session_only(ann, now):
    issued = portal_link_issue(customer=ann, now=now, send=False)
    assert portal_link_redeem(issued.token, now=now) == ann
    with pytest.raises(LinkRefused) as refused:
        portal_link_redeem(issued.token, now=now)
    assert refused.value.status == 410 and "already been used" in refused.value.reason


def test_an_expired_link_is_refused(ann, now):
    issued = portal_link_issue(customer=ann, now=now, send=False, ttl=timedelta(hours=1))
    with pytest.raises(LinkRefused) as refused:
        portal_link_check(issued.token, now=now + timedelta(hours=1, seconds=1))
    assert "expired" in refused.value.reason


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature altered
        lambda t: "x" + t,
        lambda t: "",
        lambda t: signing.dumps({"l": 1, "n": "guess"}, salt="another-salt"),
    ],
)
def test_a_tampered_link_is_refused(ann, now, tamper):
    issued = portal_link_issue(customer=ann, now=now, send=False)
    with pytest.raises(LinkRefused) as refused:
        portal_link_check(tamper(issued.token) or "-", now=now)
    assert refused.value.status == 400


def test_a_link_signed_for_another_row_is_refused(ann, ben, now):
    """A valid signature over a guessed nonce for someone else's link does not open it."""
    portal_link_issue(customer=ben, now=now, send=False)
    ben_link = PortalLink.objects.get(customer=ben)
    forged = signing.dumps({"l": ben_link.pk, "n": "guessed"}, salt="lastmile.portal.link")
    with pytest.raises(LinkRefused):
        portal_link_check(forged, now=now)


def test_the_link_page_needs_a_click_and_then_signs_in(client, ann, ann_case, now):
    issued = portal_link_issue(customer=ann, now=now, send=False)
    with time_machine.travel(now + timedelta(minutes=1), tick=False):
        page = client.get(issued.path)
        assert page.status_code == 200 and b"Continue" in page.content
        assert PortalLink.objects.get().used_at is None  # a GET (mail scanners) burns nothing
        assert client.post(issued.path).status_code == 302
        home = client.get("/portal/")
    assert home.status_code == 200
    assert f"Your request {ann_case.ref}".encode() in home.content


@pytest.mark.parametrize("status_token", ["used", "expired", "tampered"])
def test_bad_links_get_a_clear_page(client, ann, now, status_token):
    issued = portal_link_issue(customer=ann, now=now, send=False, ttl=timedelta(hours=1))
    token = issued.token
    at = now + timedelta(minutes=1)
    if status_token == "used":
        portal_link_redeem(token, now=now)
    elif status_token == "expired":
        at = now + timedelta(hours=2)
    else:
        token = token[:-3] + "xyz"
    with time_machine.travel(at, tick=False):
        for response in (
            client.get(f"/portal/start/{token}/"),
            client.post(f"/portal/start/{token}/"),
        ):
            assert response.status_code in (400, 410)
            assert b"This link cannot be used" in response.content
    assert "portal_customer" not in client.session


PORTAL_PAGES = ["/portal/", "/portal/cases/{ref}/"]


@pytest.mark.parametrize("url", PORTAL_PAGES)
def test_every_page_without_a_link_says_how_to_sign_in(client, ann_case, url):
    response = client.get(url.format(ref=ann_case.ref))
    assert response.status_code == 403
    assert b"Open the link from your email" in response.content


def test_posting_a_message_without_a_link_writes_nothing(client, ann_case):
    before = Interaction.objects.count()
    response = client.post(f"/portal/cases/{ann_case.ref}/message/", {"body": "hello"})
    assert response.status_code == 403
    assert Interaction.objects.count() == before


def test_another_customers_case_is_not_found(client, ann, ann_case, ben_case, now):
    signed_in(client, ann, now)
    page = client.get(f"/portal/cases/{ben_case.ref}/")
    assert page.status_code == 404
    assert b"secret matter" not in page.content
    before = Interaction.objects.count()
    post = client.post(f"/portal/cases/{ben_case.ref}/message/", {"body": "let me in"})
    assert post.status_code == 404
    assert Interaction.objects.count() == before
    assert ben_case.ref.encode() not in client.get("/portal/").content


def test_a_staff_login_is_not_a_portal_session(client, ann_case, alice):
    client.force_login(alice)
    assert client.get("/portal/").status_code == 403


def test_a_message_lands_on_the_timeline_and_opens_a_reply_loop(client, ann, ann_case, now):
    signed_in(client, ann, now)
    response = client.post(f"/portal/cases/{ann_case.ref}/message/", {"body": "Any news?"})
    assert response.status_code == 302
    message = Interaction.objects.get(case=ann_case, channel="portal")
    assert message.direction == Direction.INBOUND and message.body == "Any news?"
    assert Loop.objects.filter(case=ann_case, kind="reply", state="open").exists()
    assert b"Any news?" in client.get(f"/portal/cases/{ann_case.ref}/").content


def test_an_empty_message_is_refused_with_the_reason(client, ann, ann_case, now):
    signed_in(client, ann, now)
    response = client.post(f"/portal/cases/{ann_case.ref}/message/", {"body": "   "})
    assert response.status_code == 422
    assert b"must not be empty" in response.content
    assert not Interaction.objects.filter(case=ann_case, channel="portal").exists()


def test_internal_notes_stay_internal(client, ann, ann_case, now):
    from lastmile.customers.services.timeline import interaction_record

    interaction_record(
        customer=ann,
        case=ann_case,
        channel="web",
        direction=Direction.NOTE,
        occurred_at=now,
        now=now,
        body="Customer seems annoyed; VIP",
    )
    signed_in(client, ann, now)
    assert b"VIP" not in client.get(f"/portal/cases/{ann_case.ref}/").content


@pytest.mark.parametrize(
    "content, ok",
    [
        (b"%PDF-1.7 ...", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe0....", "image/jpeg"),
        (b"MZ\x90\x00 an executable", None),
        (b"<html><script>", None),
        (b"", None),
    ],
)
def test_uploads_are_typed_by_their_bytes(content, ok):
    if ok:
        assert upload_check(name="x.pdf", content=content) == ok
    else:
        with pytest.raises(InvalidInput):
            upload_check(name="statement.pdf", content=content)


def test_uploads_have_a_size_limit(settings):
    settings.LASTMILE_PORTAL_UPLOAD_MAX_BYTES = 1024
    with pytest.raises(InvalidInput) as exc:
        upload_check(name="a.pdf", content=b"%PDF-" + b"0" * 1024)
    assert exc.value.errors[0].field == "file"


def test_an_agent_emails_the_portal_link_from_the_console(client, alice, ann, ann_case):
    client.force_login(alice)
    response = client.post(f"/portal/send-link/{ann.pk}/")
    assert response.status_code == 200
    assert b"Link sent to ann@example.com" in response.content
    link = PortalLink.objects.get()
    assert link.created_by == alice and link.customer == ann
    assert OutboxMessage.objects.get().recipient == "ann@example.com"
    assert b"Email portal link" in client.get(f"/cases/{ann_case.ref}/").content


def test_sending_a_link_needs_a_login_and_an_email(client, alice, customer):
    assert client.post(f"/portal/send-link/{customer.pk}/").status_code == 302  # to the login
    client.force_login(alice)
    response = client.post(f"/portal/send-link/{customer.pk}/")
    assert response.status_code in (404, 422)
    assert not PortalLink.objects.exists()


def test_the_cli_prints_a_working_link(ann, ann_case, client):
    from click.testing import CliRunner

    from lastmile.cli import main

    result = CliRunner().invoke(main, ["portal", "link", str(ann.pk)])
    assert result.exit_code == 0, result.output
    url = result.output.strip()
    assert url.startswith("http") and "/portal/start/" in url
    path = url[url.index("/portal/") :]
    assert client.post(path).status_code == 302
    assert f"Your request {ann_case.ref}".encode() in client.get("/portal/").content
    missing = CliRunner().invoke(main, ["portal", "link", "999999"])
    assert missing.exit_code != 0 and "no customer" in missing.output
