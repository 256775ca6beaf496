"""The console's pages for stored mail: whole message, original, attachments — by case visibility."""

from __future__ import annotations

import pytest

from lastmile.mail.services import email_receive
from tests.mail.helpers import SUPPORT, make_mail

pytestmark = pytest.mark.django_db

QUOTED = "Still broken.\n\nOn Monday, Support <support@lastmile.test> wrote:\n> Try again"


@pytest.fixture
def email(mailbox, now, settings):
    settings.LASTMILE_MAIL_ATTACHMENT_MAX_BYTES = 100
    raw = make_mail(
        body=QUOTED,
        attachments=[
            ("receipt.pdf", "application/pdf", b"%PDF-1.4 receipt"),
            ("big.pdf", "application/pdf", b"x" * 200),
        ],
    )
    return email_receive(raw=raw, envelope_rcpts=[SUPPORT], now=now).email


def test_the_cases_team_sees_the_whole_message_with_its_quoted_history(client, alice, email):
    client.force_login(alice)
    response = client.get(f"/mail/{email.pk}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "&gt; Try again" in page and "Still broken." in page
    assert f'href="/mail/attachments/{email.attachments.first().pk}/"' in page
    assert "refused</strong>: 200 bytes is over the 100 byte limit" in page
    assert email.case.ref in page


def test_another_team_gets_404_as_for_a_missing_message(client, charlie, email):
    client.force_login(charlie)
    assert client.get(f"/mail/{email.pk}/").status_code == 404
    assert client.get(f"/mail/{email.pk}/raw/").status_code == 404
    stored = email.attachments.get(status="stored")
    assert client.get(f"/mail/attachments/{stored.pk}/").status_code == 404
    assert client.get("/mail/999999/").status_code == 404


def test_logged_out_visitors_are_sent_to_the_login(client, email):
    response = client.get(f"/mail/{email.pk}/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_an_attachment_downloads_as_a_file_never_rendered(client, bob, email):
    client.force_login(bob)
    stored = email.attachments.get(status="stored")
    response = client.get(f"/mail/attachments/{stored.pk}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 receipt"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    refused = email.attachments.get(status="rejected")
    assert client.get(f"/mail/attachments/{refused.pk}/").status_code == 404


def test_the_original_downloads_byte_for_byte(client, alice, email):
    client.force_login(alice)
    response = client.get(f"/mail/{email.pk}/raw/")
    assert response.status_code == 200 and response["Content-Type"] == "message/rfc822"
    assert b"".join(response.streaming_content).startswith(b"From: Maya Rossi")


def test_mail_on_no_case_is_for_admins_only(client, alice, admin_user, mailbox, now):
    bounce = email_receive(
        raw=make_mail(sender="MAILER-DAEMON@mx.example.com", message_id="<b@mx>"),
        envelope_rcpts=[SUPPORT],
        now=now,
    ).email
    assert bounce.case is None
    client.force_login(alice)
    assert client.get(f"/mail/{bounce.pk}/").status_code == 404
    client.force_login(admin_user)
    page = client.get(f"/mail/{bounce.pk}/").content.decode()
    assert "sent by mailer-daemon (bounce) — recorded, no reply owed" in page
