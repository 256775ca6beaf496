"""email_receive: the one way mail comes in (SMTP, webhook and IMAP all call it)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.cases.models import Case
from lastmile.cases.services import case_set_status
from lastmile.core.errors import InvalidInput
from lastmile.customers.models import Customer, Identity, Interaction
from lastmile.loops.models import Loop
from lastmile.mail.models import Attachment, EmailMessage
from lastmile.mail.services import (
    MessageTooLarge,
    email_receive,
    email_reply_queue,
    mail_storage,
    mailbox_ensure,
)
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory, IdentityFactory
from tests.mail.helpers import SUPPORT, make_mail
from tests.mail.test_mail_parse import dsn

pytestmark = pytest.mark.django_db


def receive(raw, now, rcpts=(SUPPORT,), **kw):
    return email_receive(raw=raw, envelope_rcpts=list(rcpts), now=now, **kw)


def snapshot(store):
    files = sorted(p.name for p in store.rglob("*") if p.is_file()) if store.exists() else []
    return (
        Case.objects.count(),
        Customer.objects.count(),
        Identity.objects.count(),
        Interaction.objects.count(),
        Loop.objects.count(),
        EmailMessage.objects.count(),
        Attachment.objects.count(),
        files,
    )


def open_reply_loops(case):
    return list(Loop.objects.filter(case=case, kind="reply", state="open"))


# --- a new conversation ---------------------------------------------------------------------


def test_a_new_message_opens_a_case_on_the_mailbox_team_with_a_reply_loop(mailbox, team, now):
    raw = make_mail(subject="Re: My card does not work")
    received = receive(raw, now)

    email = received.email
    case = email.case
    assert received.created and email.threaded_by == "new"
    assert (case.team, case.channel, case.subject, case.status) == (
        team,
        "email",
        "My card does not work",
        "open",
    )
    assert case.customer.display_name == "Maya Rossi"
    assert list(case.customer.identities.values_list("kind", "value")) == [
        ("email", "maya@example.com")
    ]
    interaction = email.interaction
    assert (
        interaction.channel,
        interaction.direction,
        interaction.source_id,
        interaction.case,
    ) == (
        "email",
        "inbound",
        "<m1@example.com>",
        case,
    )
    assert interaction.body == "Hello, my card was declined this morning."
    assert [lp.title for lp in open_reply_loops(case)] == ["First reply to Maya Rossi (email)"]
    assert mail_storage().open(email.raw_path).read() == raw  # the original, byte for byte


def test_the_same_message_twice_is_stored_once(mailbox, now, mail_store):
    raw = make_mail()
    first = receive(raw, now)
    before = snapshot(mail_store)
    again = receive(raw, now + timedelta(minutes=5))
    assert (again.created, again.email.pk) == (False, first.email.pk)
    assert snapshot(mail_store) == before


def test_a_message_without_message_id_is_identified_by_its_bytes(mailbox, now):
    raw = make_mail(message_id="")
    first = receive(raw, now)
    again = receive(raw, now)
    assert not again.created and again.email.pk == first.email.pk
    assert first.email.message_id.startswith("<sha256.")


def test_the_timeline_shows_the_new_words_and_the_email_keeps_the_quoted_history(mailbox, now):
    body = (
        "Still broken.\n\nOn Mon, 23 Nov 2026, Support <support@lastmile.test> wrote:\n> Try again"
    )
    email = receive(make_mail(body=body), now).email
    assert email.interaction.body == "Still broken."
    assert email.interaction.data["trimmed"] is True
    assert email.text == body


def test_html_is_kept_sanitised(mailbox, now):
    html = '<p>Hi</p><script>alert(1)</script><img src="x" onerror="steal()">'
    email = receive(make_mail(html=html), now).email
    assert "<p>Hi</p>" in email.html
    assert "script" not in email.html and "onerror" not in email.html


# --- threading --------------------------------------------------------------------------------


def test_a_reply_by_in_reply_to_lands_on_the_same_case(mailbox, now):
    first = receive(make_mail(), now).email
    second = receive(
        make_mail(message_id="<m2@example.com>", in_reply_to="<m1@example.com>", subject="Re: x"),
        now + timedelta(minutes=3),
    ).email
    assert second.case == first.case and second.threaded_by == "in-reply-to"
    assert Case.objects.count() == 1
    assert len(open_reply_loops(first.case)) == 1  # the open loop stays; no second one


def test_a_reply_whose_in_reply_to_is_unknown_threads_by_references(mailbox, now):
    first = receive(make_mail(), now).email
    second = receive(
        make_mail(
            message_id="<m3@example.com>",
            in_reply_to="<never-seen@elsewhere>",
            references="<m1@example.com> <never-seen@elsewhere>",
        ),
        now,
    ).email
    assert (second.case, second.threaded_by) == (first.case, "references")


def test_the_case_reference_in_the_subject_threads_mail_from_the_cases_customer(mailbox, now):
    customer = CustomerFactory()
    IdentityFactory(customer=customer, value="maya@example.com")
    case = CaseFactory(customer=customer, team=mailbox.team, subject="Card", channel="phone")
    email = receive(make_mail(subject=f"About my call [{case.ref}]"), now).email
    assert (email.case, email.threaded_by) == (case, "case-token")
    assert email.interaction.customer == customer


def test_a_stranger_quoting_a_case_reference_gets_a_new_case_not_someone_elses(mailbox, now):
    owner = CustomerFactory()
    IdentityFactory(customer=owner, value="owner@example.com")
    case = CaseFactory(customer=owner, team=mailbox.team)
    email = receive(make_mail(sender="eve@evil.example", subject=f"Hi [{case.ref}]"), now).email
    assert email.case != case and email.threaded_by == "new"
    assert email.case.subject == "Hi"  # the borrowed reference is not kept
    assert not case.interactions.exists()


def test_writing_into_a_closed_case_starts_a_follow_up_case(mailbox, now):
    first = receive(make_mail(), now).email
    Loop.objects.filter(case=first.case).update(state="closed")
    case_set_status(case=first.case, status="closed", now=now)
    again = receive(
        make_mail(message_id="<m2@example.com>", in_reply_to="<m1@example.com>"),
        now + timedelta(days=3),
    ).email
    assert again.case != first.case and again.case.customer == first.case.customer
    assert again.interaction.data["follow_up_of"] == first.case.ref
    assert len(open_reply_loops(again.case)) == 1


# --- machines' mail: recorded, no loop, no answer ---------------------------------------------


@pytest.fixture
def answered(mailbox, bob, now):
    """Maya wrote, Bob answered by email and solved the case."""
    first = receive(make_mail(), now).email
    reply = email_reply_queue(
        case=first.case, body="Fixed.", actor=bob, now=now + timedelta(minutes=5)
    )
    case_set_status(case=first.case, status="solved", now=now + timedelta(minutes=6))
    return reply


def test_an_out_of_office_reply_is_recorded_on_the_case_and_opens_no_loop(answered, now):
    case = answered.case
    ooo = receive(
        make_mail(
            message_id="<ooo@example.com>",
            in_reply_to=answered.message_id,
            subject=f"Automatic reply: {answered.subject}",
            body="I am away until Monday.",
            headers={"Auto-Submitted": "auto-replied"},
        ),
        now + timedelta(minutes=10),
    ).email
    assert (ooo.case, ooo.is_automated, ooo.automated_reason) == (
        case,
        True,
        "Auto-Submitted: auto-replied",
    )
    assert ooo.interaction.data["automated"] is True and ooo.interaction.case == case
    assert open_reply_loops(case) == []
    case.refresh_from_db()
    assert case.status == "solved"  # an auto-reply does not reopen the case


def test_a_bounce_of_our_reply_threads_by_the_returned_message_id_and_opens_nothing(answered, now):
    customers = Customer.objects.count()
    bounce = receive(dsn(answered.message_id), now + timedelta(minutes=7), envelope_from="").email
    assert (bounce.case, bounce.threaded_by, bounce.is_automated) == (
        answered.case,
        "bounce",
        True,
    )
    assert open_reply_loops(answered.case) == []
    assert Customer.objects.count() == customers  # no customer for MAILER-DAEMON
    assert bounce.interaction.customer == answered.case.customer


def test_list_mail_on_no_case_is_kept_as_an_email_only(mailbox, now, mail_store):
    before = snapshot(mail_store)
    email = receive(
        make_mail(
            sender="news@lists.example.org",
            message_id="<news1@lists.example.org>",
            headers={"List-Id": "<news.lists.example.org>", "Precedence": "list"},
        ),
        now,
    ).email
    after = snapshot(mail_store)
    assert email.is_automated and email.case is None and email.interaction is None
    assert after[:5] == before[:5]  # no case, customer, identity, interaction or loop
    assert after[5] == before[5] + 1


def test_mail_from_our_own_address_is_a_loop_and_is_not_answered(mailbox, now):
    raw = make_mail(sender=SUPPORT, message_id="<echo@lastmile.test>")
    email = receive(raw, now).email
    assert email.is_automated and "mail loop" in email.automated_reason
    assert email.case is None and not Loop.objects.exists()


def test_a_message_carrying_our_outbox_key_is_an_echo_and_is_not_answered(mailbox, now):
    raw = make_mail(headers={"X-Lastmile-Key": "mail:<x@lastmile.test>"})
    email = receive(raw, now).email
    assert email.automated_reason == "sent by lastmile (mail loop)"
    assert email.case is None and not Loop.objects.exists()


# --- refused whole ----------------------------------------------------------------------------


def test_mail_to_an_address_we_do_not_accept_is_refused_and_nothing_written(
    mailbox, now, mail_store
):
    before = snapshot(mail_store)
    with pytest.raises(InvalidInput) as exc:
        receive(make_mail(to="someone@else.test"), now, rcpts=["someone@else.test"])
    assert [(e.field, e.reason) for e in exc.value.errors] == [
        ("to", "not an address lastmile accepts mail for")
    ]
    assert snapshot(mail_store) == before


def test_a_message_without_a_valid_from_is_refused_and_nothing_written(mailbox, now, mail_store):
    before = snapshot(mail_store)
    with pytest.raises(InvalidInput) as exc:
        receive(make_mail(sender="not an address"), now)
    assert exc.value.errors[0].field == "from"
    assert snapshot(mail_store) == before


def test_an_oversized_message_is_refused(mailbox, now, settings, mail_store):
    settings.LASTMILE_MAIL_MAX_BYTES = 2000
    before = snapshot(mail_store)
    with pytest.raises(MessageTooLarge) as exc:
        receive(make_mail(body="x" * 3000), now)
    assert exc.value.status == 413
    assert snapshot(mail_store) == before


def test_an_inactive_mailbox_refuses_mail(team, now):
    mailbox_ensure(address=SUPPORT, team=team, active=False)
    with pytest.raises(InvalidInput):
        receive(make_mail(), now)


def test_lastmile_mail_addresses_routes_without_a_mailbox_row(settings, other_team, now):
    settings.LASTMILE_MAIL_ADDRESSES = f"billing@lastmile.test={other_team.slug}"
    email = receive(
        make_mail(to="billing@lastmile.test"), now, rcpts=["Billing@Lastmile.test"]
    ).email
    assert email.case.team == other_team and email.mailbox_address == "billing@lastmile.test"


# --- attachments --------------------------------------------------------------------------------


def test_attachments_within_the_limits_are_stored_and_the_others_recorded_as_refused(
    mailbox, now, settings
):
    settings.LASTMILE_MAIL_ATTACHMENT_MAX_BYTES = 1000
    raw = make_mail(
        attachments=[
            ("statement.pdf", "application/pdf", b"%PDF-1.4 small"),
            ("huge.pdf", "application/pdf", b"x" * 1001),
            ("tool.exe", "application/x-msdownload", b"MZ"),
            ("invoice.pdf.exe", "application/pdf", b"MZ"),
        ]
    )
    email = receive(raw, now).email
    rows = [(a.filename, a.status, a.reason, a.size) for a in email.attachments.all()]
    assert rows == [
        ("statement.pdf", "stored", "", 14),
        ("huge.pdf", "rejected", "1001 bytes is over the 1000 byte limit", 1001),
        ("tool.exe", "rejected", "type application/x-msdownload is not allowed", 2),
        ("invoice.pdf.exe", "rejected", "file type .exe is not allowed", 2),
    ]
    stored = email.attachments.get(status="stored")
    assert mail_storage().open(stored.path).read() == b"%PDF-1.4 small"
    assert all(a.path == "" for a in email.attachments.filter(status="rejected"))
    assert "huge.pdf (1001 B, refused: 1001 bytes is over the 1000 byte limit)" in (
        email.interaction.body
    )


def test_attachments_beyond_the_count_limit_are_refused(mailbox, now, settings):
    settings.LASTMILE_MAIL_ATTACHMENT_MAX_COUNT = 2
    raw = make_mail(attachments=[(f"p{i}.png", "image/png", b"\x89PNG") for i in range(3)])
    email = receive(raw, now).email
    assert [a.status for a in email.attachments.all()] == ["stored", "stored", "rejected"]
    assert email.attachments.last().reason == "more than 2 attachments"


def test_the_allowed_types_are_configurable(mailbox, now, settings):
    settings.LASTMILE_MAIL_ATTACHMENT_TYPES = "image/png"
    raw = make_mail(
        attachments=[("a.pdf", "application/pdf", b"%PDF"), ("b.png", "image/png", b"P")]
    )
    email = receive(raw, now).email
    assert [a.status for a in email.attachments.all()] == ["rejected", "stored"]
