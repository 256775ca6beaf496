"""Replies by email: the console queues them with threading headers, the outbox sends them by
SMTP (an aiosmtpd sink here), and the customer's answer threads back onto the case."""

from __future__ import annotations

import smtplib
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage as MimeMessage

import pytest

from lastmile.cases.models import Case
from lastmile.channels.models import OutboxMessage
from lastmile.channels.services import outbox_deliver
from lastmile.core.clock import utcnow
from lastmile.customers.models import Interaction
from lastmile.loops.models import Loop
from lastmile.mail.models import EmailMessage
from lastmile.mail.services import email_receive, email_reply_queue
from lastmile.mail.smtpd import smtpd_controller
from tests.cases.factories import CaseFactory
from tests.customers.factories import IdentityFactory
from tests.mail.helpers import SUPPORT, make_mail
from tests.net import free_port


def reply_loops(case, state="open"):
    return list(Loop.objects.filter(case=case, kind="reply", state=state))


@pytest.mark.django_db(transaction=True)
def test_a_console_reply_goes_out_threaded_and_the_customers_answer_comes_back_to_the_case(
    client, bob, mailbox, smtp_sink, settings
):
    # Given Maya's message received by the SMTP server …
    receiver = smtpd_controller(host="127.0.0.1", port=free_port())
    receiver.start()
    try:
        with smtplib.SMTP(receiver.hostname, receiver.port, timeout=10) as smtp:
            smtp.sendmail("maya@example.com", [SUPPORT], make_mail())
        case = Case.objects.get()
        assert len(reply_loops(case)) == 1

        # … when Bob answers by email in the console and the outbox delivers it …
        client.force_login(bob)
        response = client.post(
            f"/cases/{case.ref}/reply/", {"channel": "email", "body": "We unblocked your card."}
        )
        assert response.status_code == 302
        assert outbox_deliver(now=utcnow() + timedelta(seconds=1)).sent == 1

        # … then the mail that left carries our Message-ID and the thread's headers …
        [envelope] = smtp_sink.envelopes
        sent = message_from_bytes(envelope.content, policy=policy.default)
        ours = EmailMessage.objects.get(direction="outbound")
        assert envelope.rcpt_tos == ["maya@example.com"]
        assert sent["Message-ID"] == ours.message_id
        assert ours.message_id.startswith(f"<{case.ref.lower()}.") and ours.message_id.endswith(
            "@lastmile.test>"
        )
        assert sent["In-Reply-To"] == "<m1@example.com>"
        assert sent["References"] == "<m1@example.com>"
        assert sent["Subject"] == f"Re: My card does not work [{case.ref}]"
        assert sent["Reply-To"] == "Lastmile support <support@lastmile.test>"
        assert sent["From"] == "Lastmile support <support@lastmile.test>"
        assert sent.get_content().strip() == "We unblocked your card."
        assert reply_loops(case) == [] and len(reply_loops(case, "closed")) == 1

        # … and Maya's answer to it, sent the way a mail client does, lands on the same case.
        answer = MimeMessage()
        answer["From"] = "Maya Rossi <maya@example.com>"
        answer["To"] = sent["Reply-To"]
        answer["Subject"] = "Re: " + sent["Subject"]
        answer["Message-ID"] = "<m2@example.com>"
        answer["In-Reply-To"] = sent["Message-ID"]
        answer["References"] = f"{sent['References']} {sent['Message-ID']}"
        answer.set_content("Thanks! It works.\n\nOn Monday Lastmile support wrote:\n> We unblocked")
        with smtplib.SMTP(receiver.hostname, receiver.port, timeout=10) as smtp:
            smtp.send_message(answer)
    finally:
        receiver.stop()
        receiver.handler.close()
    back = EmailMessage.objects.get(message_id="<m2@example.com>")
    assert (back.case, back.threaded_by) == (case, "in-reply-to")
    assert Case.objects.count() == 1
    assert back.interaction.body == "Thanks! It works."
    [loop] = reply_loops(case)
    assert loop.title == "Answer Maya Rossi (email)" and loop.sla_target == "next_reply"


@pytest.mark.django_db
def test_the_outbox_row_carries_the_headers_and_a_second_reply_extends_references(
    mailbox, bob, now
):
    first = email_receive(raw=make_mail(), envelope_rcpts=[SUPPORT], now=now).email
    one = email_reply_queue(case=first.case, body="First answer", actor=bob, now=now)
    two = email_reply_queue(
        case=first.case, body="Second answer", actor=bob, now=now + timedelta(minutes=1)
    )
    row = OutboxMessage.objects.get(key=f"mail:{two.message_id}")
    assert (row.purpose, row.channel, row.recipient) == ("reply", "email", "maya@example.com")
    assert row.data["headers"] == {
        "Message-ID": two.message_id,
        "In-Reply-To": one.message_id,
        "References": f"<m1@example.com> {one.message_id}",
    }
    assert row.subject == f"Re: My card does not work [{first.case.ref}]"
    outbound = Interaction.objects.filter(case=first.case, direction="outbound")
    assert [i.body for i in outbound.order_by("id")] == ["First answer", "Second answer"]


@pytest.mark.django_db
def test_the_reply_goes_to_the_customer_not_to_an_auto_reply_or_bounce_address(mailbox, bob, now):
    first = email_receive(raw=make_mail(), envelope_rcpts=[SUPPORT], now=now).email
    email_receive(
        raw=make_mail(
            sender="MAILER-DAEMON@mx.example.com",
            message_id="<b@mx>",
            in_reply_to="<m1@example.com>",
            headers={"Auto-Submitted": "auto-generated"},
        ),
        envelope_rcpts=[SUPPORT],
        now=now,
    )
    sent = email_reply_queue(case=first.case, body="Hello", actor=bob, now=now)
    assert sent.to == ["maya@example.com"]


@pytest.mark.parametrize(
    ("subject", "headers"),
    [
        ("Automatic reply: {answer}", {"Auto-Submitted": "auto-replied"}),
        ("Away: {answer}", {"X-Autoreply": "yes"}),
        ("Away: {answer}", {"X-Autorespond": "Out of office"}),
        ("Away: {answer}", {"Precedence": "auto_reply"}),
        ("Out of Office: {answer}", {}),  # no marker header: the subject gives it away
        ("AUTO: Maya Rossi is out of the office", {}),
    ],
)
@pytest.mark.django_db
def test_a_reply_threads_past_the_customers_out_of_office_answer(
    mailbox, bob, now, subject, headers
):
    # Given Maya's question, our answer, and her out-of-office answering it (the demo's LM-1509) …
    first = email_receive(raw=make_mail(), envelope_rcpts=[SUPPORT], now=now).email
    answer = email_reply_queue(case=first.case, body="Which card?", actor=bob, now=now)
    email_receive(
        raw=make_mail(
            subject=subject.format(answer=answer.subject),
            body="I am travelling until 30 November.",
            message_id="<ooo@example.com>",
            in_reply_to=answer.message_id,
            references=f"<m1@example.com> {answer.message_id}",
            headers=headers,
        ),
        envelope_rcpts=[SUPPORT],
        now=now + timedelta(minutes=1),
    )
    # … a second reply threads onto the last message a person wrote, not the auto-reply,
    # under the thread's own subject.
    sent = email_reply_queue(
        case=first.case, body="Still there?", actor=bob, now=now + timedelta(minutes=2)
    )
    assert sent.in_reply_to == answer.message_id
    assert sent.references == ["<m1@example.com>", answer.message_id]
    assert sent.subject == f"Re: My card does not work [{first.case.ref}]"
    assert sent.to == ["maya@example.com"]


@pytest.mark.django_db
def test_a_reply_after_the_customers_answer_and_an_auto_reply_threads_onto_her_answer(
    mailbox, bob, now
):
    first = email_receive(raw=make_mail(), envelope_rcpts=[SUPPORT], now=now).email
    email_receive(
        raw=make_mail(
            subject="Re: My card does not work",
            message_id="<m2@example.com>",
            in_reply_to="<m1@example.com>",
        ),
        envelope_rcpts=[SUPPORT],
        now=now + timedelta(minutes=1),
    )
    email_receive(
        raw=make_mail(
            subject="Automatic reply: Re: My card does not work",
            message_id="<ooo@example.com>",
            in_reply_to="<m2@example.com>",
            headers={"Auto-Submitted": "auto-replied"},
        ),
        envelope_rcpts=[SUPPORT],
        now=now + timedelta(minutes=2),
    )
    assert EmailMessage.objects.get(message_id="<ooo@example.com>").case == first.case
    sent = email_reply_queue(case=first.case, body="Hello", actor=bob, now=now)
    assert sent.in_reply_to == "<m2@example.com>"
    assert sent.subject == f"Re: My card does not work [{first.case.ref}]"


@pytest.mark.django_db
def test_a_reply_on_an_email_case_without_an_address_is_refused_and_changes_nothing(
    client, alice, team
):
    case = CaseFactory(team=team, channel="email")
    client.force_login(alice)
    response = client.post(f"/cases/{case.ref}/reply/", {"channel": "email", "body": "Hi"})
    assert response.status_code == 422
    assert "A reply on Email cannot be sent from here" in response.content.decode()
    assert not Interaction.objects.exists() and not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_an_email_reply_on_a_case_that_never_used_email_is_refused_but_may_be_logged(
    client, alice, team
):
    case = CaseFactory(team=team, channel="chat")
    IdentityFactory(customer=case.customer, value="maya@example.com")
    client.force_login(alice)
    response = client.post(f"/cases/{case.ref}/reply/", {"channel": "email", "body": "Hi"})
    assert response.status_code == 422
    assert not Interaction.objects.exists()
    response = client.post(f"/cases/{case.ref}/reply/", {"channel": "log:email", "body": "Hi"})
    assert response.status_code == 302
    logged = Interaction.objects.get()
    assert (logged.channel, logged.data) == ("email", {"delivery": "logged"})
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_a_reply_on_a_phone_case_the_customer_emailed_into_goes_out_by_email(
    mailbox, client, alice, now
):
    case = CaseFactory(team=mailbox.team, channel="phone", subject="Lost card")
    IdentityFactory(customer=case.customer, value="maya@example.com")
    email_receive(
        raw=make_mail(subject=f"Photo of the receipt [{case.ref}]"),
        envelope_rcpts=[SUPPORT],
        now=now,
    )
    client.force_login(alice)
    response = client.post(f"/cases/{case.ref}/reply/", {"channel": "email", "body": "Got it"})
    assert response.status_code == 302
    row = OutboxMessage.objects.get()
    assert row.subject == f"Re: Photo of the receipt [{case.ref}]"
    assert row.data["headers"]["In-Reply-To"] == "<m1@example.com>"


@pytest.mark.django_db
def test_the_console_says_where_the_email_reply_was_queued(client, bob, mailbox, now):
    first = email_receive(raw=make_mail(), envelope_rcpts=[SUPPORT], now=now).email
    client.force_login(bob)
    response = client.post(
        f"/cases/{first.case.ref}/reply/", {"channel": "email", "body": "Hi"}, follow=True
    )
    assert "Queued by email to maya@example.com." in response.content.decode()
