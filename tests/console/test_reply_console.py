"""Writing on a case in the console: the via list says what delivers, a reply is sent or
logged and says which, a reply loop is closed by hand only with a reason, the collision check,
form limits, attachments both ways and macros.

Alice owns the front office's work, Bob is her teammate, Charlie (back office) an outsider.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from lastmile.cases.models import Case
from lastmile.channels.models import OutboxMessage
from lastmile.customers.models import Interaction
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.models import Loop, LoopEvent
from lastmile.macros.models import Macro
from lastmile.mail.models import Attachment
from lastmile.mail.services import email_receive, mailbox_ensure
from tests.mail.helpers import SUPPORT, make_mail

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

PDF = b"%PDF-1.4 the receipt"


@pytest.fixture(autouse=True)
def mail_store(settings, tmp_path):
    settings.LASTMILE_MAIL_STORAGE_DIR = str(tmp_path / "mailstore")
    settings.LASTMILE_MAIL_ADDRESSES = ""


@pytest.fixture
def email_case(team, now):
    mailbox_ensure(address=SUPPORT, team=team, name="Lastmile support")
    raw = make_mail(attachments=[("receipt.pdf", "application/pdf", PDF)])
    return email_receive(
        raw=raw, envelope_rcpts=[SUPPORT], now=now - timedelta(minutes=30)
    ).email.case


def seen_on(page: str) -> str:
    return re.search(r'name="seen" value="(\d+)"', page).group(1)


def page_of(client, case) -> str:
    response = client.get(f"/cases/{case.ref}/")
    assert response.status_code == 200
    return response.content.decode()


def reply_loop(case) -> Loop:
    return Loop.objects.get(case=case, kind="reply")


# --- the via list ----------------------------------------------------------------------------


def test_the_via_list_sends_by_email_and_offers_the_rest_only_to_log(client, alice, email_case):
    client.force_login(alice)
    page = page_of(client, email_case)
    assert (
        '<option value="email" data-delivers="1" data-files="1" selected>Email to maya@example.com</option>'
        in page
    )
    assert '<option value="log:web">Web — log a reply sent elsewhere (not sent)</option>' in page
    composer = page[page.index('id="reply-form"') : page.index('id="note-form"')]
    assert 'value="web"' not in composer


def test_a_reply_via_web_on_an_email_case_is_refused_once_and_the_loop_stays_open(
    client, alice, email_case
):
    client.force_login(alice)
    response = client.post(f"/cases/{email_case.ref}/reply/", {"channel": "web", "body": "Hi"})
    assert response.status_code == 422
    page = response.content.decode()
    assert page.count("cannot be sent from here") == 1
    assert ">\nHi</textarea>" in page  # the text is kept
    assert reply_loop(email_case).state == "open"
    assert not Interaction.objects.filter(direction="outbound").exists()


def test_a_logged_reply_says_logged_not_sent_and_its_loop_trail_too(client, alice, email_case):
    client.force_login(alice)
    response = client.post(
        f"/cases/{email_case.ref}/reply/",
        {"channel": "log:phone", "body": "Called her back"},
        follow=True,
    )
    page = response.content.decode()
    assert "Logged a reply given on Phone: not sent by lastmile." in page
    assert "logged · not sent" in page
    closed = LoopEvent.objects.get(loop=reply_loop(email_case), kind="closed")
    assert closed.reason == "reply logged as given on phone (not sent by lastmile)"
    assert not OutboxMessage.objects.exists()


def test_an_email_reply_says_where_it_was_queued(client, alice, email_case):
    client.force_login(alice)
    response = client.post(
        f"/cases/{email_case.ref}/reply/", {"channel": "email", "body": "Fixed"}, follow=True
    )
    assert "Queued by email to maya@example.com." in response.content.decode()
    assert OutboxMessage.objects.get().recipient == "maya@example.com"


# --- closing a reply loop by hand ------------------------------------------------------------


def test_closing_a_reply_loop_without_a_reason_is_refused(client, alice, email_case):
    client.force_login(alice)
    loop = reply_loop(email_case)
    response = client.post(f"/cases/{email_case.ref}/loops/{loop.pk}/close/")
    assert response.status_code == 422
    assert "needs a reason" in response.content.decode()
    assert reply_loop(email_case).state == "open"


def test_closing_a_reply_loop_with_a_reason_puts_it_in_the_trail(client, alice, email_case):
    client.force_login(alice)
    loop = reply_loop(email_case)
    response = client.post(
        f"/cases/{email_case.ref}/loops/{loop.pk}/close/",
        {"why": "duplicate", "reason": "of LM-1041"},
        follow=True,
    )
    assert response.status_code == 200
    closed = LoopEvent.objects.get(loop=loop, kind="closed")
    assert (closed.reason, closed.actor) == ("duplicate: of LM-1041", alice)
    assert "duplicate: of LM-1041" in response.content.decode()


def test_the_close_form_offers_the_reasons(client, alice, email_case):
    client.force_login(alice)
    page = page_of(client, email_case)
    assert "Close without replying…" in page
    for reason in ("answered elsewhere", "duplicate", "spam", "no reply needed"):
        assert f'<option value="{reason}">' in page


# --- the collision check ---------------------------------------------------------------------


def test_a_customer_message_since_the_page_loaded_stops_the_reply_with_a_warning(
    client, alice, email_case, now
):
    client.force_login(alice)
    seen = seen_on(page_of(client, email_case))
    interaction_record(
        customer=email_case.customer,
        case=email_case,
        channel="email",
        direction="inbound",
        occurred_at=now,
        now=now,
        body="Actually it works now, thanks!",
    )
    data = {"channel": "email", "body": "Let me check", "seen": seen}
    response = client.post(f"/cases/{email_case.ref}/reply/", data)
    assert response.status_code == 409
    assert response["X-Lastmile-Error"] == "newer_messages"
    page = response.content.decode()
    assert "wrote on Email at 10:00: “Actually it works now, thanks!”" in page
    assert "Send anyway" in page
    assert 'name="confirm" value="1"' in page
    assert not Interaction.objects.filter(direction="outbound").exists()

    response = client.post(f"/cases/{email_case.ref}/reply/", {**data, "confirm": "1"})
    assert response.status_code == 302
    assert Interaction.objects.filter(direction="outbound").count() == 1


def test_a_colleagues_note_since_the_page_loaded_stops_my_note(client, alice, bob, email_case):
    client.force_login(alice)
    seen = seen_on(page_of(client, email_case))
    client.force_login(bob)
    assert client.post(f"/cases/{email_case.ref}/note/", {"body": "I'm on it"}).status_code == 302
    client.force_login(alice)
    response = client.post(f"/cases/{email_case.ref}/note/", {"body": "Mine", "seen": seen})
    assert response.status_code == 409
    assert "bob added a note" in response.content.decode()
    assert Interaction.objects.filter(direction="note").count() == 1


def test_my_own_note_since_the_page_loaded_does_not_stop_my_reply(client, alice, email_case):
    client.force_login(alice)
    seen = seen_on(page_of(client, email_case))
    client.post(f"/cases/{email_case.ref}/note/", {"body": "Checking", "seen": seen})
    response = client.post(
        f"/cases/{email_case.ref}/reply/", {"channel": "email", "body": "Done", "seen": seen}
    )
    assert response.status_code == 302


# --- limits ----------------------------------------------------------------------------------


def test_an_over_long_reply_is_refused_with_the_limit_and_the_text_kept(client, alice, email_case):
    client.force_login(alice)
    body = "x" * 10_001
    response = client.post(f"/cases/{email_case.ref}/reply/", {"channel": "email", "body": body})
    assert response.status_code == 422
    page = response.content.decode()
    assert page.count("the limit is 10000") == 1
    assert body in page
    assert not Interaction.objects.filter(direction="outbound").exists()


def test_the_composer_shows_the_limit_and_has_no_maxlength_that_would_cut_a_paste(
    client, alice, email_case
):
    client.force_login(alice)
    page = page_of(client, email_case)
    assert "/ 10000 characters" in page
    textarea = re.search(r'<textarea name="body"[^>]*id="reply-body"[^>]*>', page).group(0)
    assert 'data-counter="10000"' in textarea and "maxlength" not in textarea


# --- attachments -----------------------------------------------------------------------------


def test_an_inbound_attachment_is_listed_and_served_as_a_download_with_nosniff(
    client, alice, charlie, email_case
):
    row = Attachment.objects.get()
    client.force_login(alice)
    assert f'href="/mail/attachments/{row.pk}/" download>📎 receipt.pdf' in page_of(
        client, email_case
    )
    response = client.get(f"/mail/attachments/{row.pk}/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PDF
    client.force_login(charlie)
    assert client.get(f"/mail/attachments/{row.pk}/").status_code == 404


def test_a_reply_with_a_file_goes_by_email_with_it(client, alice, email_case):
    client.force_login(alice)
    upload = SimpleUploadedFile("answer.pdf", PDF, content_type="application/pdf")
    response = client.post(
        f"/cases/{email_case.ref}/reply/",
        {"channel": "email", "body": "Attached", "attachments": [upload]},
        follow=True,
    )
    assert "Queued by email to maya@example.com with 1 attachment." in response.content.decode()
    row = OutboxMessage.objects.get()
    sent = Attachment.objects.get(email__direction="outbound")
    assert (row.channel, row.data["attachments"]) == ("email:files", [sent.pk])


def test_a_file_on_a_logged_reply_is_refused(client, alice, email_case):
    client.force_login(alice)
    upload = SimpleUploadedFile("answer.pdf", PDF, content_type="application/pdf")
    response = client.post(
        f"/cases/{email_case.ref}/reply/",
        {"channel": "log:phone", "body": "Called", "attachments": [upload]},
    )
    assert response.status_code == 422
    assert "a logged reply carries no attachments" in response.content.decode().lower()
    assert not Interaction.objects.filter(direction="outbound").exists()


# --- macros ----------------------------------------------------------------------------------


@pytest.fixture
def solve_macro(team, now):
    return Macro.objects.create(
        name="Solved",
        body="Hi {{customer.first_name}}, {{case.ref}} is fixed. {{agent.name}}",
        team=team,
        set_status="solved",
        updated_at=now,
    )


def test_the_picker_offers_the_teams_macro_filled_for_the_case(
    client, alice, email_case, solve_macro
):
    client.force_login(alice)
    page = page_of(client, email_case)
    assert (
        f'<template data-macro-text="{solve_macro.pk}">Hi Maya, {email_case.ref} is fixed. alice</template>'
        in page
    )


def test_a_reply_sent_with_a_macro_applies_its_status(client, alice, email_case, solve_macro):
    client.force_login(alice)
    response = client.post(
        f"/cases/{email_case.ref}/reply/",
        {"channel": "email", "body": "Fixed", "macro": solve_macro.pk},
    )
    assert response.status_code == 302
    assert Case.objects.get(pk=email_case.pk).status == "solved"


def test_a_macro_of_another_team_cannot_be_used_and_nothing_is_sent(
    client, alice, email_case, other_team, now
):
    theirs = Macro.objects.create(
        name="Theirs", body="x", team=other_team, set_status="solved", updated_at=now
    )
    client.force_login(alice)
    response = client.post(
        f"/cases/{email_case.ref}/reply/", {"channel": "email", "body": "Hi", "macro": theirs.pk}
    )
    assert response.status_code == 422
    assert not Interaction.objects.filter(direction="outbound").exists()
    assert Case.objects.get(pk=email_case.pk).status != "solved"


# --- knowledge in replies --------------------------------------------------------------------


def test_a_suggested_article_offers_its_text_and_its_portal_link(client, alice, email_case, now):
    from lastmile.knowledge.services import article_create

    article = article_create(
        title="Card declined", body_md="Check the card is **active**.", public=True, now=now
    )
    client.force_login(alice)
    page = page_of(client, email_case)
    assert f'data-insert-from="kb-text-{article.pk}">Insert text' in page
    assert f'<template id="kb-text-{article.pk}">Check the card is **active**.</template>' in page
    assert f'<template id="kb-link-{article.pk}">Card declined: http' in page
    assert f"/portal/help/{article.slug}/</template>" in page
