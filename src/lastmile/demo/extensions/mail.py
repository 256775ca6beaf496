"""The mail app's part of the seeded demo (called by lastmile.demo.seed after the core stories).

Two mailboxes and two email threads, all through the real services (``email_receive`` for
what customers send, ``email_reply_queue`` for the agents' answers):

- the bank's support address: a customer writes, the front office answers by email, and the
  customer's out-of-office auto-reply comes back — recorded on the case, no loop opened;
- the hotel's address: a guest writes with a PDF attached, reception answers, the guest
  answers that (threaded by In-Reply-To) — a "next reply" loop is open in the inbox.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime
from typing import Any

from lastmile.mail.conf import smtp_host, smtp_port
from lastmile.mail.services import email_receive, email_reply_queue, mailbox_ensure

BANK = "support@lastmile-bank.example"
HOTEL = "stay@lastmile-hotels.example"

# A tiny but valid one-page PDF, so the attachment opens.
PDF = (
    b"%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 144]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _mail(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    at: datetime,
    message_id: str,
    in_reply_to: str = "",
    headers: dict[str, str] | None = None,
    pdf: str = "",
) -> bytes:
    msg = MimeMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if pdf:
        msg.add_attachment(PDF, maintype="application", subtype="pdf", filename=pdf)
    return msg.as_bytes()


def seed(seeder: Any) -> list[str]:
    """Seed this app's demo data; return report lines."""
    now: datetime = seeder.now
    mailbox_ensure(address=BANK, team=seeder.teams["front"], name="Lastmile Bank support")
    mailbox_ensure(address=HOTEL, team=seeder.teams["reception"], name="Lastmile Hotels")

    # 1. Bank: question, answer, out-of-office.
    t0 = now - timedelta(hours=3)
    first = email_receive(
        raw=_mail(
            sender="Priya Shah <priya.shah@example.net>",
            to=BANK,
            subject="Card declined in Lisbon",
            body=(
                "Hello,\n\nmy card was declined twice today at a restaurant in Lisbon, though "
                "there is money on the account. Is the card blocked abroad?\n\nPriya"
            ),
            at=t0,
            message_id="<demo.priya.1@example.net>",
        ),
        envelope_rcpts=[BANK],
        now=t0,
    ).email
    assert first.case is not None
    answer = email_reply_queue(
        case=first.case,
        body=(
            "Dear Priya,\n\nyour card was not blocked: the terminal asked for the PIN and the "
            "payment timed out. It will work again now; we have marked Portugal as a travel "
            "country on your account.\n\nSam, Lastmile Bank"
        ),
        actor=seeder.users["front"],
        now=t0 + timedelta(minutes=40),
    )
    ooo_at = t0 + timedelta(minutes=41)
    out_of_office = email_receive(
        raw=_mail(
            sender="Priya Shah <priya.shah@example.net>",
            to=BANK,
            subject=f"Automatic reply: {answer.subject}",
            body="I am travelling until 30 November with limited access to email.",
            at=ooo_at,
            message_id="<demo.priya.ooo@example.net>",
            in_reply_to=answer.message_id,
            headers={"Auto-Submitted": "auto-replied"},
        ),
        envelope_rcpts=[BANK],
        now=ooo_at,
    ).email

    # 2. Hotel: a booking question with a PDF, the answer, the guest's reply.
    t1 = now - timedelta(days=1, hours=2)
    booking = email_receive(
        raw=_mail(
            sender="Tom Becker <tom.becker@example.org>",
            to=HOTEL,
            subject="Late arrival on 12 December",
            body=(
                "Hi,\n\nour flight lands at 23:40, so we will reach the hotel after midnight. "
                "Can you keep the room (booking attached)?\n\nThanks, Tom"
            ),
            at=t1,
            message_id="<demo.tom.1@example.org>",
            pdf="booking-48213.pdf",
        ),
        envelope_rcpts=[HOTEL],
        now=t1,
    ).email
    assert booking.case is not None
    confirm = email_reply_queue(
        case=booking.case,
        body="Dear Tom,\n\nno problem: the night desk will have your keys ready.\n\nReception",
        actor=seeder.users["reception"],
        now=t1 + timedelta(hours=1),
    )
    t2 = now - timedelta(minutes=50)
    email_receive(
        raw=_mail(
            sender="Tom Becker <tom.becker@example.org>",
            to=HOTEL,
            subject=f"Re: {confirm.subject}",
            body=(
                "Great, thank you. One more thing: is there parking at the hotel?\n\n"
                f"On {format_datetime(t1 + timedelta(hours=1))}, Lastmile Hotels <{HOTEL}> wrote:\n"
                "> Dear Tom,\n> no problem: the night desk will have your keys ready."
            ),
            at=t2,
            message_id="<demo.tom.2@example.org>",
            in_reply_to=confirm.message_id,
        ),
        envelope_rcpts=[HOTEL],
        now=t2,
    )
    assert out_of_office.is_automated
    return [
        f"mail: mailboxes {BANK} (front), {HOTEL} (reception); smtpd on "
        f"{smtp_host()}:{smtp_port()} (LASTMILE_SMTP_HOST/PORT)",
        f"  {first.case.ref:<9} email thread      answered by email; the out-of-office reply "
        "is recorded and opened no loop",
        f"  {booking.case.ref:<9} email thread      PDF attached; the guest's reply threaded back "
        "by In-Reply-To and awaits an answer",
    ]
