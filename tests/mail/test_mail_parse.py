"""Reading a message: ids, text, sanitised HTML, quoted history, machines' mail, attachments."""

from __future__ import annotations

from email.message import EmailMessage as MimeMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from lastmile.mail.parse import (
    filename_safe,
    html_sanitise,
    mail_parse,
    msgid_normalize,
    msgids_parse,
    quote_trim,
    subject_clean,
)
from tests.mail.helpers import make_mail

# --- ids ----------------------------------------------------------------------------------


def test_a_message_id_is_stored_in_angle_brackets_whatever_the_spacing():
    assert msgid_normalize("  <abc.123@mail.example.com> ") == "<abc.123@mail.example.com>"
    assert msgid_normalize("abc@x") == "<abc@x>"
    assert msgid_normalize("") == msgid_normalize("   ") == msgid_normalize("not an id") == ""


def test_an_overlong_message_id_becomes_a_stable_digest():
    long_id = "<" + "a" * 600 + "@x>"
    assert msgid_normalize(long_id) == msgid_normalize(long_id)
    assert len(msgid_normalize(long_id)) <= 500 and msgid_normalize(long_id).endswith(".invalid>")


def test_references_keep_order_and_drop_repeats():
    assert msgids_parse("<a@x> <b@x>\r\n <a@x> <c@x>") == ["<a@x>", "<b@x>", "<c@x>"]


def test_thread_ids_put_in_reply_to_first_then_references_newest_first():
    parsed = mail_parse(make_mail(in_reply_to="<c@x>", references="<a@x> <b@x> <c@x>"))
    assert parsed.thread_ids == ["<c@x>", "<b@x>", "<a@x>"]


# --- text and HTML -------------------------------------------------------------------------


def test_html_loses_scripts_handlers_and_styles_but_keeps_the_words():
    html = (
        '<p onclick="steal()">Hi <b>there</b></p><script>alert(1)</script>'
        '<style>p{color:red}</style><a href="javascript:alert(2)">x</a><img src=x onerror=boom>'
    )
    clean = html_sanitise(html)
    for bad in ("script", "onclick", "onerror", "javascript:", "color:red", "alert"):
        assert bad not in clean
    assert "<b>there</b>" in clean


def test_an_html_only_message_gets_its_text_extracted():
    msg = MimeMessage()
    msg["From"] = "maya@example.com"
    msg["To"] = "support@lastmile.test"
    msg["Message-ID"] = "<h@x>"
    msg.set_content(
        "<html><head><style>.x{}</style></head><body><p>Line one</p><p>Line <i>two</i></p>"
        "<script>evil()</script></body></html>",
        subtype="html",
    )
    parsed = mail_parse(msg.as_bytes())
    assert parsed.text == "Line one\n\nLine two"
    assert "<script" not in parsed.html and "<p>Line one</p>" in parsed.html


def test_a_plain_part_is_preferred_over_the_html_alternative():
    parsed = mail_parse(make_mail(body="plain words", html="<p>html words</p>"))
    assert parsed.text == "plain words" and "html words" in parsed.html


def test_encoded_headers_are_decoded():
    raw = (
        b"From: =?utf-8?q?Jos=C3=A9_P=C3=A9rez?= <jose@example.com>\r\n"
        b"To: support@lastmile.test\r\nSubject: =?utf-8?b?w4lsZWN0cmljaXTDqQ==?=\r\n"
        b"Message-ID: <e@x>\r\n\r\nbody\r\n"
    )
    parsed = mail_parse(raw)
    assert (parsed.from_name, parsed.from_address, parsed.subject) == (
        "José Pérez",
        "jose@example.com",
        "Électricité",
    )


# --- quoted history -------------------------------------------------------------------------


def test_a_gmail_style_attribution_wrapped_over_two_lines_is_cut_with_what_follows():
    text = (
        "Thanks, that works.\n\nOn Mon, 23 Nov 2026 at 10:00, Lastmile Support <\n"
        "support@lastmile.test> wrote:\n> Hello\n> We unblocked it."
    )
    assert quote_trim(text) == "Thanks, that works."


def test_an_outlook_header_block_is_cut():
    text = (
        "Yes please.\n\n________________________________\nFrom: Lastmile Support\n"
        "Sent: Monday, 23 November 2026 10:00\nTo: Maya\nSubject: RE: card\n\nOld text"
    )
    assert quote_trim(text) == "Yes please."


def test_an_original_message_marker_is_cut():
    assert quote_trim("Fine.\n-----Original Message-----\nFrom: x\nold") == "Fine."


def test_a_trailing_quote_block_is_cut_but_inline_answers_stay():
    assert quote_trim("New words\n\n> old\n> older\n") == "New words"
    inline = "> Which card?\nThe blue one.\n> When?\nToday."
    assert quote_trim(inline) == inline


def test_a_message_that_is_only_quote_stays_whole():
    assert quote_trim("> only old text\n> here") == "> only old text\n> here"


def test_a_body_mentioning_from_without_a_header_block_is_not_cut():
    text = "From: my side everything is fine.\nThanks"
    assert quote_trim(text) == text


# --- machines' mail -------------------------------------------------------------------------


def test_a_human_message_is_not_automated():
    assert mail_parse(make_mail()).automated_reason == ""


def test_auto_submitted_no_is_a_human_message():
    assert mail_parse(make_mail(headers={"Auto-Submitted": "no"})).automated_reason == ""


def test_auto_replies_bounces_and_lists_are_recognised():
    cases = {
        "Auto-Submitted": ("auto-replied", "Auto-Submitted: auto-replied"),
        "Precedence": ("bulk", "Precedence: bulk"),
        "List-Id": ("<news.example.com>", "mailing list (List-Id)"),
        "X-Autoreply": ("yes", "auto-reply (X-Autoreply)"),
        "X-Failed-Recipients": ("a@b.c", "X-Failed-Recipients (bounce)"),
    }
    for header, (value, reason) in cases.items():
        assert mail_parse(make_mail(headers={header: value})).automated_reason == reason


def test_mail_from_mailer_daemon_or_with_an_empty_return_path_is_a_bounce():
    daemon = make_mail(sender="Mail Delivery System <MAILER-DAEMON@mx.example.com>")
    assert mail_parse(daemon).automated_reason == "sent by mailer-daemon (bounce)"
    assert mail_parse(make_mail(), envelope_from="").automated_reason == (
        "empty return path (bounce)"
    )
    assert mail_parse(make_mail(), envelope_from="maya@example.com").automated_reason == ""


def dsn(original_id: str) -> bytes:
    """A delivery status notification (RFC 3464) returning the headers of ``original_id``."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        "To: support@lastmile.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn1@mx.example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; gone@example.com\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: support@lastmile.test\r\nTo: gone@example.com\r\nMessage-ID: {original_id}\r\n"
        "Subject: Re: your card\r\n\r\n--B--\r\n"
    ).encode()


def test_a_delivery_report_is_a_bounce_carrying_the_original_message_id():
    parsed = mail_parse(dsn("<ours.1@lastmile.test>"))
    assert parsed.automated_reason == "delivery status notification (bounce)"
    assert parsed.bounced_ids == ["<ours.1@lastmile.test>"]
    assert parsed.text == "Your message could not be delivered."
    assert parsed.attachments == []  # the report's parts are not the customer's files


# --- attachments ------------------------------------------------------------------------------


def test_attachments_are_read_with_name_type_and_bytes():
    parsed = mail_parse(
        make_mail(
            attachments=[
                ("scan.pdf", "application/pdf", b"%PDF-1.4 x"),
                ("a.png", "image/png", b"\x89PNG"),
            ]
        )
    )
    assert [(a.filename, a.content_type, a.payload) for a in parsed.attachments] == [
        ("scan.pdf", "application/pdf", b"%PDF-1.4 x"),
        ("a.png", "image/png", b"\x89PNG"),
    ]


def test_a_forwarded_message_is_one_attachment_not_its_parts():
    inner = make_mail(
        message_id="<inner@x>", subject="old", attachments=[("x.pdf", "application/pdf", b"1")]
    )
    outer = MimeMessage()
    outer["From"], outer["To"], outer["Message-ID"] = (
        "maya@example.com",
        "support@lastmile.test",
        "<o@x>",
    )
    outer.set_content("see below")
    from email import message_from_bytes, policy

    outer.add_attachment(message_from_bytes(inner, policy=policy.default))
    parsed = mail_parse(outer.as_bytes())
    assert [a.content_type for a in parsed.attachments] == ["message/rfc822"]
    assert b"Message-ID: <inner@x>" in parsed.attachments[0].payload


def test_file_names_lose_paths_and_control_characters():
    assert filename_safe("../../etc/passwd", content_type="text/plain", index=0) == "passwd"
    assert (
        filename_safe("C:\\Users\\x\\bill.pdf", content_type="application/pdf", index=0)
        == "bill.pdf"
    )
    assert filename_safe("a\r\nb.txt", content_type="text/plain", index=0) == "a__b.txt"
    assert filename_safe("", content_type="application/pdf", index=2) == "attachment-3.pdf"


def test_a_subject_loses_reply_prefixes_and_the_case_reference():
    import re

    pattern = re.compile(r"\[\s*(LM-\d+)\s*\]", re.I)
    assert subject_clean("Re: AW: Fwd: My card [LM-1042]", ref_pattern=pattern) == "My card"
    assert subject_clean("Re: Automatic reply: Re: My card [LM-1042]", ref_pattern=pattern) == (
        "My card"
    )
    assert subject_clean("Out of Office: RE: My card") == "My card"
    assert subject_clean("Auto: Getriebe defekt") == "Auto: Getriebe defekt"  # a car, not a robot


# --- robustness -------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_parse_without_raising(raw):
    parsed = mail_parse(raw)
    for text in (parsed.text, parsed.subject, parsed.from_name, parsed.html):
        assert "\x00" not in text
        text.encode("utf-8")  # storable: no lone surrogates


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_quote_trim_returns_a_prefix_of_the_text(text):
    trimmed = quote_trim(text)
    assert text.strip().startswith(trimmed)
