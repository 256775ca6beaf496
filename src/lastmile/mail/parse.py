"""Reading an email: pure functions over the raw bytes, no database.

What a message says about itself — ids for threading, sender, text, sanitised HTML,
attachments, and whether a machine sent it (auto-replies, bounces, list mail) — is decided
here, so the service only has to decide what to do with it.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from html.parser import HTMLParser

import nh3
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

MAX_ID = 500
MAX_REFERENCES = 50

# Headers kept on the row (everything else stays in the raw message).
HEADERS_OF_INTEREST = (
    "Auto-Submitted",
    "Precedence",
    "List-Id",
    "List-Unsubscribe",
    "X-Autoreply",
    "X-Autorespond",
    "X-Auto-Response-Suppress",
    "X-Failed-Recipients",
    "Return-Path",
    "Reply-To",
    "Content-Type",
    "X-Mailer",
    "User-Agent",
    "X-Lastmile-Key",  # on everything lastmile sends: its echo is a mail loop
)

_ID = re.compile(r"<([^<>\s]+)>")


def text_clean(value: str) -> str:
    """Text any database can store: no NUL, no lone surrogates (undecodable header bytes)."""
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def msgid_normalize(value: str | None) -> str:
    """``<id@host>`` as stored; ``""`` when there is no id. Over-long ids become a digest."""
    value = text_clean(value or "").strip()
    m = _ID.search(value)
    core = m.group(1) if m else (value.strip("<>") if value and " " not in value else "")
    if not core:
        return ""
    mid = f"<{core}>"
    if len(mid) > MAX_ID:
        mid = f"<{hashlib.sha256(mid.encode()).hexdigest()}@long-message-id.invalid>"
    return mid


def msgids_parse(value: str | None) -> list[str]:
    """Every ``<id>`` in a References-style header, in order, each once (the last 50)."""
    ids = [msgid_normalize(f"<{m}>") for m in _ID.findall(text_clean(value or ""))]
    return list(dict.fromkeys(i for i in ids if i))[-MAX_REFERENCES:]


def address_normalize(value: str) -> str:
    """A valid address, lower-cased; ``""`` when it is not one."""
    value = (value or "").strip().strip("<>").strip().lower()
    try:
        validate_email(value)
    except ValidationError:
        return ""
    return value


# --- HTML -----------------------------------------------------------------------------------


def html_sanitise(html: str) -> str:
    """HTML safe to show in the console: no scripts, styles, event handlers or forms (nh3)."""
    return nh3.clean(html, strip_comments=True)


_BLOCK = {
    "p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "hr", "ul", "ol", "section", "article", "header", "footer",
}  # fmt: skip


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip += 1
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_to_text(html: str) -> str:
    """The readable text of an HTML part, one line per block."""
    parser = _TextOf()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- quoted history ---------------------------------------------------------------------------

_ATTRIBUTION = re.compile(
    r"^\s*(?:"
    r"On\s.{1,300}?\swrote\s?:"
    r"|Am\s.{1,300}?\sschrieb\s?.{0,80}:"
    r"|Le\s.{1,300}?\sa\s[ée]crit\s?:"
    r"|El\s.{1,300}?\sescribi[óo]\s?:"
    r"|Op\s.{1,300}?\sschreef\s?.{0,80}:"
    r")\s*$",
    re.IGNORECASE | re.DOTALL,
)
_ORIGINAL = re.compile(
    r"^\s*-{2,}\s*(Original Message|Urspr[üu]ngliche Nachricht)\s*-{2,}\s*$", re.I
)
_RULE = re.compile(r"^\s*_{10,}\s*$")
_FROM = re.compile(r"^\s*\*?(From|De|Von|Van)\*?\s?:\s*\S", re.I)
_SENT = re.compile(r"^\s*\*?(Sent|Date|Envoy[ée]|Gesendet|Verzonden)\*?\s?:\s*\S", re.I)


def _history_starts(lines: list[str], i: int) -> bool:
    line = lines[i]
    if not line.strip():
        return False
    if _ORIGINAL.match(line):
        return True
    # "On Mon, 23 Nov 2026 at 10:00, Support <support@x.com> wrote:" — mail clients wrap it.
    if _ATTRIBUTION.match(line) or (
        i + 1 < len(lines) and _ATTRIBUTION.match(line + " " + lines[i + 1])
    ):
        return True
    # Outlook: a rule, or straight away "From: …" then "Sent: …" within a few lines.
    start = i + 1 if _RULE.match(line) else i
    if start < len(lines) and _FROM.match(lines[start]):
        return any(_SENT.match(x) for x in lines[start + 1 : start + 5])
    return False


def quote_trim(text: str) -> str:
    """The new part of a reply: the text before the quoted history.

    Cut at the first attribution line ("On … wrote:"), "Original Message" marker or Outlook
    header block; otherwise drop a trailing block of "> " lines. Inline answers between
    quotes are kept whole. If nothing would be left, the whole text is the answer.
    """
    text = text.strip()
    lines = text.splitlines()
    cut = next((i for i in range(len(lines)) if _history_starts(lines, i)), None)
    if cut is None:
        j = len(lines)
        while j > 0 and (lines[j - 1].lstrip().startswith(">") or not lines[j - 1].strip()):
            j -= 1
        if j < len(lines):
            cut = j
    if cut is None:
        return text
    head = "\n".join(lines[:cut]).rstrip()
    return head if head.strip() else text


# --- the whole message ------------------------------------------------------------------------


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    payload: bytes


@dataclass
class ParsedMail:
    message_id: str
    in_reply_to: str
    references: list[str]
    subject: str
    from_address: str
    from_name: str
    to: list[str]
    cc: list[str]
    date: datetime | None
    text: str
    html: str
    headers: dict[str, str]
    automated_reason: str
    bounced_ids: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)

    @property
    def thread_ids(self) -> list[str]:
        """Ids this message answers, the most specific first."""
        ids = ([self.in_reply_to] if self.in_reply_to else []) + self.references[::-1]
        return list(dict.fromkeys(ids))


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a header the parser cannot make sense of reads as absent
        return ""
    return text_clean(str(value)).replace("\r", " ").replace("\n", " ").strip() if value else ""


def _addresses(msg: Message, name: str) -> list[str]:
    try:
        values = [text_clean(str(v)) for v in msg.get_all(name, [])]
    except Exception:
        return []
    found = [address_normalize(addr) for _, addr in getaddresses(values)]
    return list(dict.fromkeys(a for a in found if a))


def _content(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
    except Exception:  # unknown charset, broken transfer encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return text_clean(str(content))


_REPORT_PARTS = {
    "message/delivery-status",
    "message/global-delivery-status",
    "message/rfc822",
    "message/global",
    "text/rfc822-headers",
    "message/global-headers",
    "message/disposition-notification",
}


def _leaves(part: Message, in_report: bool = False):  # type: ignore[no-untyped-def]
    """Leaf parts with whether they belong to a report (a DSN's machine-readable parts)."""
    ctype = part.get_content_type()
    if part.get_content_maintype() == "message":
        yield part, in_report
        return
    if part.is_multipart():
        inner = in_report or ctype == "multipart/report"
        for sub in part.get_payload():
            if isinstance(sub, Message):
                yield from _leaves(sub, inner)
        return
    yield part, in_report


def _bounced_id(part: Message) -> str:
    """The original Message-ID a delivery report carries (returned message or its headers)."""
    ctype = part.get_content_type()
    try:
        if ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            return msgid_normalize(_header(inner, "Message-ID")) if inner is not None else ""
        if ctype in ("text/rfc822-headers", "message/global-headers"):
            raw = part.get_payload(decode=True) or b""
            headers = HeaderParser().parsestr(raw.decode("utf-8", "replace"))
            return msgid_normalize(headers.get("Message-ID", ""))
    except Exception:
        return ""
    return ""


def automated_reason(msg: Message, *, envelope_from: str | None = None) -> str:
    """Why this message was sent by a machine (RFC 3834, RFC 3464, list headers); "" if not."""
    auto = _header(msg, "Auto-Submitted").lower()
    if auto and auto.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto}"[:200]
    if msg.get_content_type() == "multipart/report":
        kind = (msg.get_param("report-type") or "").lower()  # type: ignore[union-attr]
        if kind == "disposition-notification":
            return "read receipt (disposition notification)"
        return "delivery status notification (bounce)"
    if envelope_from is not None and envelope_from.strip() in ("", "<>"):
        return "empty return path (bounce)"
    if _header(msg, "Return-Path").replace(" ", "") == "<>":
        return "empty return path (bounce)"
    if _header(msg, "X-Failed-Recipients"):
        return "X-Failed-Recipients (bounce)"
    _, sender = parseaddr(_header(msg, "From"))
    if sender.split("@")[0].lower() in ("mailer-daemon", "postmaster"):
        return f"sent by {sender.split('@')[0].lower()} (bounce)"
    precedence = _header(msg, "Precedence").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply", "auto-reply"):
        return f"Precedence: {precedence}"
    for name in ("List-Id", "List-Unsubscribe", "List-Post"):
        if _header(msg, name):
            return f"mailing list ({name})"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if _header(msg, name):
            return f"auto-reply ({name})"
    return ""


def mail_parse(raw: bytes, *, envelope_from: str | None = None) -> ParsedMail:
    """Read a raw RFC 5322 message. Never raises on a malformed message: missing parts read
    as empty, and the caller decides what is required."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    from_name, from_addr = parseaddr(_header(msg, "From"))
    date = None
    if raw_date := _header(msg, "Date"):
        try:
            date = parsedate_to_datetime(raw_date)
        except (TypeError, ValueError, IndexError, OverflowError):
            date = None
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
    plain = html_part = None
    if isinstance(msg, MimeMessage):
        try:
            plain = msg.get_body(preferencelist=("plain",))
            html_part = msg.get_body(preferencelist=("html",))
        except Exception:
            plain = html_part = None
    elif not msg.is_multipart():
        plain = msg
    html = html_sanitise(_content(html_part)) if html_part is not None else ""
    text = _content(plain) if plain is not None else html_to_text(html)
    text = text.replace("\r\n", "\n").strip()

    attachments: list[ParsedAttachment] = []
    bounced: list[str] = []
    for part, in_report in _leaves(msg):
        if part is plain or part is html_part:
            continue
        ctype = part.get_content_type()
        if in_report and ctype in _REPORT_PARTS:
            if original := _bounced_id(part):
                bounced.append(original)
            continue
        filename = text_clean(part.get_filename() or "")
        disposition = part.get_content_disposition()
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            continue  # another body part (alternative, a signature split off): kept in the raw
        if part.get_content_maintype() == "message":
            inner = part.get_payload()
            payload = inner[0].as_bytes() if isinstance(inner, list) and inner else part.as_bytes()
        else:
            decoded = part.get_payload(decode=True)
            payload = decoded if isinstance(decoded, bytes) else b""
        attachments.append(ParsedAttachment(filename=filename, content_type=ctype, payload=payload))

    headers = {name: _header(msg, name)[:500] for name in HEADERS_OF_INTEREST}
    return ParsedMail(
        message_id=msgid_normalize(_header(msg, "Message-ID")),
        in_reply_to=(msgids_parse(_header(msg, "In-Reply-To")) or [""])[0],
        references=msgids_parse(_header(msg, "References")),
        subject=_header(msg, "Subject")[:500],
        from_address=address_normalize(from_addr),
        from_name=text_clean(from_name).strip()[:200],
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        date=date,
        text=text,
        html=html,
        headers={k: v for k, v in headers.items() if v},
        automated_reason=automated_reason(msg, envelope_from=envelope_from),
        bounced_ids=list(dict.fromkeys(bounced)),
        attachments=attachments,
    )


# Subject prefixes of out-of-office and other auto-replies, for mail that carries none of the
# headers ``automated_reason`` reads (Outlook, Notes and some webmail write these). Notes' "AUTO:"
# only in capitals: "Auto: …" is how a German customer writes about their car.
_AUTO_REPLY_PREFIX = re.compile(
    r"^\s*(automatic reply|auto[- ]?reply|auto[- ]?response|autoreply|out of (the )?office"
    r"( reply| autoreply)?|(?-i:AUTO)|abwesenheitsnotiz|r[ée]ponse automatique|risposta automatica"
    r"|respuesta autom[aá]tica)\s*:\s*",
    re.I,
)


def subject_is_auto_reply(subject: str) -> bool:
    """Whether a subject reads as an auto-reply's ("Automatic reply: …", "Out of Office: …")."""
    return bool(_AUTO_REPLY_PREFIX.match(subject or ""))


def subject_clean(subject: str, *, ref_pattern: re.Pattern[str] | None = None) -> str:
    """A case subject from a mail subject: no "Re:"/"Fwd:" or auto-reply prefixes, no case
    reference."""
    if ref_pattern is not None:
        subject = ref_pattern.sub("", subject)
    prev = None
    while prev != subject:
        prev = subject
        subject = re.sub(r"^\s*(re|fwd?|aw|wg|sv|tr)\s*(\[\d+\])?\s*:\s*", "", subject, flags=re.I)
        subject = _AUTO_REPLY_PREFIX.sub("", subject)
    return re.sub(r"\s+", " ", subject).strip()


def filename_safe(name: str, *, content_type: str, index: int) -> str:
    """A file name to show and store: no path, no control characters, not empty."""
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    name = name.lstrip(".") or ""
    if not name:
        ext = mimetypes.guess_extension(content_type) or ".bin"
        name = f"attachment-{index + 1}{ext}"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:190] + dot + ext[:9]) if dot and len(ext) < 10 else name[:200]
    return name
