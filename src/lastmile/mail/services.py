"""Every write of the mail channel: receiving a message (SMTP, webhook, IMAP) and replying.

``email_receive`` is the one way in. It threads the message onto a case, records it on the
customer's timeline (the loop engine opens the reply loop) and keeps the original whole.
``email_reply_queue`` is the one way out: a console reply on an email case becomes an
outbox row carrying the headers that make the customer's answer thread back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import mimetypes
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, formataddr
from functools import partial
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage
from django.db import IntegrityError, transaction

from lastmile.cases.models import Case, CaseStatus
from lastmile.cases.selectors import cases_by_ref
from lastmile.cases.services import case_create
from lastmile.channels.delivery import PermanentFailure, email_data_errors, email_message_id
from lastmile.channels.models import OutboxMessage
from lastmile.channels.replies import (
    Delivery,
    FileLimits,
    OutgoingFile,
    ReplyRoute,
    ReplySent,
    files_checked,
    reply_on_rollback,
)
from lastmile.channels.services import outbox_enqueue, outbox_message
from lastmile.core.errors import DomainError, ErrorCode, FieldError, InvalidInput
from lastmile.core.events import event_emit
from lastmile.customers.identities import identity_normalize
from lastmile.customers.models import Channel, Direction
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.timeline import interaction_record
from lastmile.mail import conf
from lastmile.mail.models import (
    Attachment,
    AttachmentStatus,
    EmailMessage,
    Mailbox,
    MailDirection,
    ThreadedBy,
)
from lastmile.mail.parse import (
    ParsedAttachment,
    ParsedMail,
    address_normalize,
    filename_safe,
    mail_parse,
    msgid_normalize,
    quote_trim,
    subject_clean,
    subject_is_auto_reply,
)
from lastmile.people.models import Team
from lastmile.people.viewers import Actor

log = logging.getLogger(__name__)

MAX_REPLY_REFERENCES = 20


class MessageTooLarge(DomainError):
    """A message over LASTMILE_MAIL_MAX_BYTES (SMTP answers 552, the webhook 413)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            detail=f"the message is {size} bytes; the limit is {limit}",
            errors=[FieldError("message", f"larger than {limit} bytes")],
            code=ErrorCode.TOO_LARGE,
            status=413,
        )


# --- where mail goes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """An accepted address and the team its new conversations go to."""

    address: str
    team: Team | None
    name: str = ""


def mail_routes(addresses: Iterable[str]) -> list[Route]:
    """The addresses among ``addresses`` lastmile accepts mail for, in the order given.

    Active Mailbox rows first; ``LASTMILE_MAIL_ADDRESSES`` for addresses without a row. An
    inactive row refuses its address even when the variable lists it.
    """
    wanted = list(dict.fromkeys(a for a in (address_normalize(x) for x in addresses) if a))
    if not wanted:
        return []
    rows = {m.address: m for m in Mailbox.objects.filter(address__in=wanted).select_related("team")}
    configured = conf.configured_addresses()
    slugs = {configured[a] for a in wanted if a in configured and a not in rows}
    teams = {t.slug: t for t in Team.objects.filter(slug__in=slugs)} if slugs else {}
    routes = []
    for address in wanted:
        row = rows.get(address)
        if row is not None:
            if row.active:
                routes.append(Route(address=address, team=row.team, name=row.name))
        elif address in configured:
            team = teams.get(configured[address])
            if team is None:
                log.warning(
                    "LASTMILE_MAIL_ADDRESSES routes %s to unknown team %r; its cases get no team",
                    address,
                    configured[address],
                )
            routes.append(Route(address=address, team=team))
    return routes


def mail_accepts(address: str) -> bool:
    """Whether mail to ``address`` is accepted (the SMTP server's RCPT check)."""
    return bool(mail_routes([address]))


def _our_addresses() -> set[str]:
    ours = set(Mailbox.objects.values_list("address", flat=True))
    ours |= set(conf.configured_addresses())
    ours.add(address_normalize(settings.DEFAULT_FROM_EMAIL))
    return ours


def mailbox_ensure(*, address: str, team: Team, name: str = "", active: bool = True) -> Mailbox:
    """The mailbox for ``address`` (lower-cased), created or updated (idempotent)."""
    normal = address_normalize(address)
    if not normal:
        raise InvalidInput(
            f"{address!r} is not an email address", [FieldError("address", "not an email address")]
        )
    mailbox, _ = Mailbox.objects.update_or_create(
        address=normal, defaults={"team": team, "name": name, "active": active}
    )
    return mailbox


# --- storage ----------------------------------------------------------------------------------


def mail_storage() -> Storage:
    """Where raw messages and attachments are kept (``LASTMILE_MAIL_STORAGE_DIR``)."""
    return FileSystemStorage(location=conf.storage_dir())


def _store(storage: Storage, path: str, content: bytes) -> str:
    # Content-addressed: the same bytes always land at the same path, so a retry or a second
    # copy writes nothing new and a rolled-back transaction leaves only a harmless duplicate.
    if not storage.exists(path):
        path = storage.save(path, ContentFile(content))
    return path


# --- receiving --------------------------------------------------------------------------------


@dataclass
class Received:
    email: EmailMessage
    created: bool
    attachments: list[Attachment] = field(default_factory=list)


def _case_ref_pattern() -> re.Pattern[str]:
    return re.compile(rf"\[\s*({re.escape(settings.LASTMILE_CASE_PREFIX)}-\d{{1,15}})\s*\]", re.I)


def _source_id(message_id: str) -> str:
    if len(message_id) <= 200:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()


def _thread(parsed: ParsedMail) -> tuple[Case | None, str]:
    """The case this message continues, and how we know.

    1. In-Reply-To, then References (newest first): a message we stored that is on a case.
       Message-IDs are unguessable, so these are trusted whoever the sender is.
    2. A bounce: the Message-ID of the message it returns.
    3. ``[LM-1042]`` in the subject — only if the sender's address belongs to that case's
       customer: case numbers are guessable, and a stranger must not write into a case.
    """
    ids = parsed.thread_ids
    if ids:
        known = dict(
            EmailMessage.objects.filter(message_id__in=ids, case__isnull=False).values_list(
                "message_id", "case_id"
            )
        )
        for mid in ids:
            if mid in known:
                how = ThreadedBy.IN_REPLY_TO if mid == parsed.in_reply_to else ThreadedBy.REFERENCES
                return Case.objects.select_related("customer", "team").get(pk=known[mid]), how
    if parsed.bounced_ids:
        row = (
            EmailMessage.objects.filter(message_id__in=parsed.bounced_ids, case__isnull=False)
            .select_related("case")
            .first()
        )
        if row is not None and row.case is not None:
            return row.case, ThreadedBy.BOUNCED
    for ref in _case_ref_pattern().findall(parsed.subject):
        case = cases_by_ref([ref.upper()]).get(ref.upper())
        if (
            case is not None
            and parsed.from_address
            and (case.customer.identities.filter(kind="email", value=parsed.from_address).exists())
        ):
            return case, ThreadedBy.CASE_TOKEN
    return None, ThreadedBy.NONE


def _attachment_verdicts(
    parts: Sequence[ParsedAttachment],
) -> list[tuple[ParsedAttachment, str, str]]:
    """(part, safe file name, reason it is refused or "") for each attachment, in order."""
    allowed = conf.attachment_types()
    max_bytes = conf.attachment_max_bytes()
    max_count = conf.attachment_max_count()
    out = []
    kept = 0
    for i, part in enumerate(parts):
        name = filename_safe(part.filename, content_type=part.content_type, index=i)
        ctype = part.content_type.lower()
        reason = ""
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        guessed = mimetypes.guess_type(name)[0] if ext else None
        if ctype not in allowed:
            reason = f"type {ctype} is not allowed"
        elif guessed is not None and guessed.lower() not in allowed:
            # "invoice.pdf.exe" sent as application/pdf: the name decides how it opens.
            reason = f"file type .{ext} is not allowed"
        elif len(part.payload) > max_bytes:
            reason = f"{len(part.payload)} bytes is over the {max_bytes} byte limit"
        elif kept >= max_count:
            reason = f"more than {max_count} attachments"
        else:
            kept += 1
        out.append((part, name, reason))
    return out


def email_receive(
    *,
    raw: bytes,
    envelope_rcpts: Sequence[str],
    now: datetime,
    envelope_from: str | None = None,
) -> Received:
    """Take in one email, from any door (SMTP, the inbound webhook, IMAP).

    Guarantees:
    1. Idempotent: a Message-ID already stored returns that message, nothing new is written
       (a message without a Message-ID is identified by its bytes).
    2. Refused whole, nothing written: empty or oversized, no recipient we accept, no
       valid From address (InvalidInput / MessageTooLarge with the field and reason).
    3. Threaded by In-Reply-To/References, a bounce's original, or ``[LM-1042]`` from the
       case's own customer; otherwise a new case on the routed team. A customer writing
       into a closed case starts a follow-up case.
    4. A human's message is an inbound interaction: the loop engine opens or resumes the
       reply loop. A machine's (auto-reply, bounce, list, our own mail) is recorded with
       ``{"automated": true}`` on the case it belongs to — no loop, no case reopened, no
       answer — or, if it belongs to none, kept as an email only.
    5. The raw message and accepted attachments go to storage; refused attachments are
       recorded with the reason.
    """
    if not raw or not raw.strip():
        raise InvalidInput("the message is empty", [FieldError("message", "must not be empty")])
    limit = conf.max_message_bytes()
    if len(raw) > limit:
        raise MessageTooLarge(len(raw), limit)
    parsed = mail_parse(raw, envelope_from=envelope_from)
    digest = hashlib.sha256(raw).hexdigest()
    message_id = parsed.message_id or f"<sha256.{digest}@no-message-id.invalid>"
    existing = EmailMessage.objects.filter(message_id=message_id).first()
    if existing is not None:
        return Received(email=existing, created=False, attachments=list(existing.attachments.all()))

    routes = mail_routes(list(envelope_rcpts) or parsed.to + parsed.cc)
    if not routes:
        given = ", ".join(envelope_rcpts or parsed.to + parsed.cc) or "no recipient"
        raise InvalidInput(
            f"lastmile accepts no mail for {given}",
            [FieldError("to", "not an address lastmile accepts mail for")],
        )
    if not parsed.from_address:
        raise InvalidInput(
            "the message has no valid From address",
            [FieldError("from", "missing or not an email address")],
        )
    automated = parsed.automated_reason
    if not automated and "X-Lastmile-Key" in parsed.headers:
        automated = "sent by lastmile (mail loop)"
    if not automated and parsed.from_address in _our_addresses():
        automated = "sent from one of lastmile's own addresses (mail loop)"

    storage = mail_storage()
    raw_path = _store(storage, f"raw/{digest[:2]}/{digest}.eml", raw)
    verdicts = _attachment_verdicts(parsed.attachments)
    stored_paths: dict[int, tuple[str, str]] = {}
    for i, (part, name, reason) in enumerate(verdicts):
        if not reason:
            sha = hashlib.sha256(part.payload).hexdigest()
            stored_paths[i] = (
                sha,
                _store(storage, f"attachments/{sha[:2]}/{sha}/{name}", part.payload),
            )

    for attempt in range(2):
        try:
            with transaction.atomic():
                return _receive(
                    parsed=parsed,
                    message_id=message_id,
                    route=routes[0],
                    automated=automated,
                    raw=(raw_path, digest, len(raw)),
                    verdicts=verdicts,
                    stored_paths=stored_paths,
                    now=now,
                )
        except IntegrityError:
            # The same message arrived twice at once (an SMTP retry racing the first try):
            # the other delivery stored it; answer with that one.
            existing = EmailMessage.objects.filter(message_id=message_id).first()
            if existing is not None:
                return Received(
                    email=existing, created=False, attachments=list(existing.attachments.all())
                )
            if attempt:
                raise
    raise AssertionError("unreachable")


def _receive(
    *,
    parsed: ParsedMail,
    message_id: str,
    route: Route,
    automated: str,
    raw: tuple[str, str, int],
    verdicts: list[tuple[ParsedAttachment, str, str]],
    stored_paths: dict[int, tuple[str, str]],
    now: datetime,
) -> Received:
    case, threaded_by = _thread(parsed)
    data: dict[str, Any] = {
        "message_id": message_id,
        "subject": parsed.subject,
        "from": parsed.from_address,
        "to": route.address,
    }
    interaction = None
    if automated:
        data.update(automated=True, automated_reason=automated)
        if case is not None:
            # A machine's message belongs to the conversation, not to its sender.
            interaction = _record(case.customer, case, parsed, message_id, data, verdicts, now)
    else:
        customer = customer_resolve(
            identities=[identity_normalize("email", parsed.from_address)],
            display_name=parsed.from_name,
            now=now,
        ).customer
        if case is not None and case.status == CaseStatus.CLOSED:
            data["follow_up_of"] = case.ref
            case = None
        if case is None:
            subject = subject_clean(parsed.subject, ref_pattern=_case_ref_pattern())
            case = case_create(
                customer=customer,
                subject=subject or "(no subject)",
                team=route.team,
                channel=Channel.EMAIL,
                now=now,
            )
            threaded_by = ThreadedBy.NEW
        interaction = _record(customer, case, parsed, message_id, data, verdicts, now)

    email = EmailMessage.objects.create(
        message_id=message_id,
        direction=MailDirection.INBOUND,
        mailbox_address=route.address,
        case=case,
        interaction=interaction,
        threaded_by=threaded_by,
        from_address=parsed.from_address,
        from_name=parsed.from_name,
        to=parsed.to,
        cc=parsed.cc,
        subject=parsed.subject,
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        date_header=parsed.date,
        received_at=now,
        text=parsed.text,
        html=parsed.html,
        headers=parsed.headers,
        is_automated=bool(automated),
        automated_reason=automated,
        raw_path=raw[0],
        raw_sha256=raw[1],
        raw_size=raw[2],
    )
    attachments = Attachment.objects.bulk_create(
        [
            Attachment(
                email=email,
                filename=name,
                content_type=part.content_type[:200],
                size=len(part.payload),
                sha256=stored_paths[i][0] if i in stored_paths else "",
                status=AttachmentStatus.REJECTED if reason else AttachmentStatus.STORED,
                reason=reason,
                path=stored_paths[i][1] if i in stored_paths else "",
            )
            for i, (part, name, reason) in enumerate(verdicts)
        ]
    )
    event_emit(
        "mail.received",
        {
            "email": email.pk,
            "message_id": message_id,
            "case": case.ref if case is not None else None,
            "customer": interaction.customer_id if interaction is not None else None,
            "automated": bool(automated),
            "threaded_by": threaded_by,
        },
        at=now,
    )
    return Received(email=email, created=True, attachments=attachments)


def _record(
    customer: Any,
    case: Case,
    parsed: ParsedMail,
    message_id: str,
    data: dict[str, Any],
    verdicts: list[tuple[ParsedAttachment, str, str]],
    now: datetime,
) -> Any:
    """The timeline row: the new text (quoted history trimmed) and what came attached."""
    body = quote_trim(parsed.text)
    data["trimmed"] = body != parsed.text.strip()
    if verdicts:
        names = [
            f"{name} ({_size(len(part.payload))}{', refused: ' + reason if reason else ''})"
            for part, name, reason in verdicts
        ]
        body = f"{body}\n\nAttachments: {'; '.join(names)}".strip()
        data["attachments"] = [
            {"name": name, "status": "rejected" if reason else "stored"}
            for _, name, reason in verdicts
        ]
    return interaction_record(
        customer=customer,
        case=case,
        channel=Channel.EMAIL,
        direction=Direction.INBOUND,
        occurred_at=now,
        now=now,
        body=body or "(no text)",
        data=data,
        source_id=_source_id(message_id),
        # An auto-reply's or a bounce's text is not the customer's mood.
        customer_words=not data.get("automated"),
    )


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


# --- the inbound-parse webhook ----------------------------------------------------------------


@dataclass
class InboundAttachment:
    filename: str
    content_type: str
    content_base64: str


_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")  # RFC 5322 field name: printable, no colon
_STRUCTURAL = {"content-type", "content-transfer-encoding", "mime-version", "content-disposition"}


def inbound_raw(
    *,
    from_: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    subject: str = "",
    text: str = "",
    html: str = "",
    headers: dict[str, str] | None = None,
    message_id: str = "",
    attachments: Sequence[InboundAttachment] = (),
    now: datetime,
) -> bytes:
    """An RFC 5322 message from an inbound-parse JSON payload, so that it takes the same
    path as mail received by SMTP. InvalidInput names each bad field."""
    errors: list[FieldError] = []
    sender = address_normalize(from_.rsplit("<", 1)[-1].rstrip(">") if "<" in from_ else from_)
    if not sender:
        errors.append(FieldError("from", "not an email address"))
    if not to:
        errors.append(FieldError("to", "at least one recipient"))
    for i, addr in enumerate(to):
        if not address_normalize(addr):
            errors.append(FieldError(f"to[{i}]", "not an email address"))
    for i, addr in enumerate(cc):
        if not address_normalize(addr):
            errors.append(FieldError(f"cc[{i}]", "not an email address"))
    headers = dict(headers or {})
    given_id = message_id or next((v for k, v in headers.items() if k.lower() == "message-id"), "")
    mid = msgid_normalize(given_id)
    if not mid:
        errors.append(
            FieldError("message_id", "required (or a Message-ID header): it makes retries safe")
        )
    if not (text.strip() or html.strip() or attachments):
        errors.append(FieldError("text", "give text, html or an attachment"))
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            errors.append(FieldError(f"headers.{name}", "not a valid header name"))
        elif "\r" in value or "\n" in value:
            errors.append(FieldError(f"headers.{name}", "must not contain a line break"))
        elif name.lower() in _STRUCTURAL:
            errors.append(FieldError(f"headers.{name}", "set by lastmile from the parts given"))
    if "\r" in subject or "\n" in subject:
        errors.append(FieldError("subject", "must not contain a line break"))
    decoded: list[tuple[InboundAttachment, bytes]] = []
    for i, att in enumerate(attachments):
        try:
            payload = base64.b64decode(att.content_base64, validate=True)
        except (binascii.Error, ValueError):
            errors.append(FieldError(f"attachments[{i}].content_base64", "not valid base64"))
            continue
        if "/" not in att.content_type or any(c in att.content_type for c in "\r\n;"):
            errors.append(FieldError(f"attachments[{i}].content_type", "not a type/subtype"))
            continue
        decoded.append((att, payload))
    if errors:
        raise InvalidInput(f"{errors[0].field}: {errors[0].reason}", errors)

    msg = MimeMessage()
    skip = {"from", "to", "cc", "subject", "message-id"}
    for name, value in headers.items():
        if name.lower() not in skip:
            msg[name] = value
    msg["From"] = from_
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["Message-ID"] = mid
    if "Date" not in msg:
        msg["Date"] = format_datetime(now)
    if text.strip() or not html.strip():
        msg.set_content(text or "")
        if html.strip():
            msg.add_alternative(html, subtype="html")
    else:
        msg.set_content(html, subtype="html")
    for att, payload in decoded:
        maintype, subtype = att.content_type.split("/", 1)
        msg.add_attachment(
            payload, maintype=maintype, subtype=subtype, filename=att.filename or None
        )
    return msg.as_bytes()


# --- replying ---------------------------------------------------------------------------------


def case_is_email(*, case: Case) -> bool:
    """Whether a reply on this case by email goes out as mail (it began or continued by mail)."""
    return case.channel == Channel.EMAIL or EmailMessage.objects.filter(case=case).exists()


def _reply_subject(case: Case, last: EmailMessage | None) -> str:
    base = subject_clean(last.subject if last else case.subject, ref_pattern=_case_ref_pattern())
    suffix = f" [{case.ref}]"
    return f"Re: {base or case.subject}"[: 300 - len(suffix)] + suffix


def _is_auto_reply(email: EmailMessage) -> bool:
    """An inbound message a machine sent (flagged on ingest by its headers, else read from an
    "Automatic reply:" subject): never the one a reply answers or addresses."""
    return email.direction == MailDirection.INBOUND and (
        email.is_automated or subject_is_auto_reply(email.subject)
    )


def _reply_parent(thread: list[EmailMessage]) -> EmailMessage | None:
    """The message a reply threads onto: the thread's last one a person wrote (the customer's
    or ours), so an out-of-office answer to our last reply does not become the parent."""
    return next((m for m in reversed(thread) if not _is_auto_reply(m)), None)


def _from_address(case: Case, thread: list[EmailMessage]) -> str:
    for row in reversed(thread):
        if row.mailbox_address:
            return row.mailbox_address
    if case.team_id:
        box = Mailbox.objects.filter(team_id=case.team_id, active=True).first()
        if box is not None:
            return box.address
        slug = case.team.slug if case.team else ""
        for address, team_slug in conf.configured_addresses().items():
            if team_slug == slug:
                return address
    return address_normalize(settings.DEFAULT_FROM_EMAIL) or "lastmile@localhost"


def _reply_recipient(case: Case, thread: list[EmailMessage]) -> str:
    """The address the customer last wrote from (not an auto-reply's), else their email."""
    last_in = next(
        (
            m
            for m in reversed(thread)
            if m.direction == MailDirection.INBOUND and not _is_auto_reply(m)
        ),
        None,
    )
    recipient = last_in.from_address if last_in else ""
    if not recipient:
        identity = case.customer.identities.filter(kind="email").order_by("-id").first()
        recipient = identity.value if identity is not None else ""
    return recipient


def email_reply_options(*, case: Case) -> list[tuple[str, str]]:
    """The reply route's options (``channels.replies``): email, on a case that began or went
    on by mail and whose customer has an address to answer."""
    thread = list(EmailMessage.objects.filter(case=case).order_by("received_at", "id"))
    if not thread and case.channel != Channel.EMAIL:
        return []  # case_is_email, read with the thread
    recipient = _reply_recipient(case, thread)
    return [(Channel.EMAIL.value, f"Email to {recipient}")] if recipient else []


def email_reply_files() -> FileLimits:
    """Replies carry attachments under the same limits as mail coming in."""
    return FileLimits(
        max_bytes=conf.attachment_max_bytes(),
        max_count=conf.attachment_max_count(),
        types=frozenset(conf.attachment_types()),
    )


def email_reply_send(
    *,
    case: Case,
    channel: str,
    body: str,
    files: Sequence[OutgoingFile],
    actor: Actor,
    now: datetime,
) -> ReplySent:
    """The reply route's send: threaded mail through the outbox."""
    email = email_reply_queue(case=case, body=body, actor=actor, now=now, files=files)
    outbox = OutboxMessage.objects.filter(key=f"mail:{email.message_id}").values_list(
        "pk", flat=True
    )
    assert email.interaction is not None
    n = len(files)
    with_files = f" with {n} attachment{'s' if n != 1 else ''}" if n else ""
    return ReplySent(
        email.interaction,
        Delivery.QUEUED,
        outbox.first(),
        f"Queued by email to {email.to[0]}{with_files}.",
    )


EMAIL_REPLY_ROUTE = ReplyRoute(
    name="email", options=email_reply_options, send=email_reply_send, files=email_reply_files
)
# The outbox channel of a reply with attachments: its transport reads them from mail storage.
CHANNEL_WITH_FILES = "email:files"


def email_reply_queue(
    *,
    case: Case,
    body: str,
    actor: Actor,
    now: datetime,
    files: Sequence[OutgoingFile] = (),
    automated: bool = False,
    subject: str | None = None,
) -> EmailMessage:
    """Answer the customer by email: record the reply (closing the reply loop) and queue it.

    ``automated``: a message the system sends on the case that answers nothing the customer
    asked (an invoice): recorded as ``{"automated": true}``, so it closes no reply loop.
    ``subject``: its own subject instead of "Re: …", the case's tag ``[LM-…]`` kept after it
    so that an answer still threads back to the case.

    The mail goes to the address the customer last wrote from (else their email identity),
    with a new ``Message-ID``, ``In-Reply-To`` the thread's last message not an auto-reply, its
    ``References`` plus that id, a ``Re: … [LM-1042]`` subject and Reply-To our mailbox —
    so their answer threads back whichever of the three their mail client keeps. One
    transaction: the timeline row, the email row and the outbox row exist together or not.
    """
    body = (body or "").strip()
    if not body:
        raise InvalidInput("a reply needs some text", [FieldError("body", "must not be empty")])
    if files:
        files_checked(files, email_reply_files())
    thread = list(EmailMessage.objects.filter(case=case).order_by("received_at", "id"))
    recipient = _reply_recipient(case, thread)
    if not recipient:
        raise InvalidInput(
            f"{case.customer} has no email address to reply to",
            [FieldError("channel", "no email address for this customer; reply on another channel")],
        )
    sender = _from_address(case, thread)
    last = _reply_parent(thread)
    domain = sender.rsplit("@", 1)[-1]
    message_id = f"<{case.ref.lower()}.{secrets.token_hex(8)}@{domain}>"
    references = (list(last.references) + [last.message_id])[-MAX_REPLY_REFERENCES:] if last else []
    if last and last.references and references[0] != last.references[0]:
        references = [last.references[0], *references[1:]]  # RFC 5322: keep the thread's root
    subject = f"{subject.strip()} [{case.ref}]" if subject else _reply_subject(case, last)
    headers = {"Message-ID": message_id}
    if last is not None:
        headers["In-Reply-To"] = last.message_id
        headers["References"] = " ".join(references)
    box = Mailbox.objects.filter(address=sender).first()
    # From and Reply-To are our mailbox, so the customer's answer comes back to it.
    reply_to = formataddr((box.name, sender)) if box is not None and box.name else sender
    written: list[str] = []
    try:
        with transaction.atomic():
            interaction = interaction_record(
                customer=case.customer,
                case=case,
                channel=Channel.EMAIL,
                direction=Direction.OUTBOUND,
                occurred_at=now,
                now=now,
                body=body,
                actor=actor,
                data={
                    "message_id": message_id,
                    "subject": subject,
                    "to": recipient,
                    **({"automated": True} if automated else {}),
                },
                source_id=_source_id(message_id),
            )
            email = EmailMessage.objects.create(
                message_id=message_id,
                direction=MailDirection.OUTBOUND,
                mailbox_address=sender,
                case=case,
                interaction=interaction,
                threaded_by=ThreadedBy.IN_REPLY_TO if last else ThreadedBy.NEW,
                from_address=sender,
                from_name=box.name if box is not None else "",
                to=[recipient],
                subject=subject,
                in_reply_to=headers.get("In-Reply-To", ""),
                references=references,
                received_at=now,
                text=body,
            )
            stored, written = _reply_files_store(email, files)
            outbox_enqueue(
                [
                    outbox_message(
                        key=f"mail:{message_id}",
                        recipient=recipient,
                        subject=subject,
                        body=body,
                        purpose="reply",
                        channel=CHANNEL_WITH_FILES if stored else "email",
                        now=now,
                        data={
                            "headers": headers,
                            "from_email": reply_to,
                            "reply_to": reply_to,
                            "case": case.ref,
                            **({"attachments": stored} if stored else {}),
                        },
                        customer=case.customer,
                        case=case,
                    )
                ]
            )
    except BaseException:
        _reply_files_forget(written)  # written to storage, now rolled back
        raise
    if written:
        # A refusal later in the reply's transaction (a macro's action) rolls it back too.
        reply_on_rollback(partial(_reply_files_forget, written))
    return email


def _reply_files_store(
    email: EmailMessage, files: Sequence[OutgoingFile]
) -> tuple[list[int], list[str]]:
    """Keep a reply's files in the mail storage, as rows on its email: their ids, and the
    paths this call wrote (a file already stored, the same bytes and name, is shared)."""
    if not files:
        return [], []
    storage = mail_storage()
    rows, written = [], []
    for i, f in enumerate(files):
        name = filename_safe(f.filename, content_type=f.content_type, index=i)
        sha = hashlib.sha256(f.content).hexdigest()
        path = f"attachments/{sha[:2]}/{sha}/{name}"
        new = not storage.exists(path)
        path = _store(storage, path, f.content)
        if new:
            written.append(path)
        rows.append(
            Attachment.objects.create(
                email=email,
                filename=name,
                content_type=f.content_type.split(";")[0].strip().lower(),
                size=len(f.content),
                sha256=sha,
                status=AttachmentStatus.STORED,
                path=path,
            )
        )
    return [r.pk for r in rows], written


def _reply_files_forget(paths: Sequence[str]) -> None:
    """After a rolled-back reply: delete the files it wrote that no stored row keeps (a
    reply committed meanwhile with the same file keeps it)."""
    storage = mail_storage()
    kept = set(Attachment.objects.filter(path__in=paths).values_list("path", flat=True))
    for path in paths:
        if path not in kept:
            storage.delete(path)


def email_send_with_files(message: OutboxMessage) -> str:
    """The outbox transport of ``email:files``: the reply with its attachments, read from the
    mail storage when it is sent (a file gone missing is a permanent failure, said)."""
    from django.core.mail import EmailMessage as DjangoMail

    data = message.data or {}
    errors = email_data_errors(data)
    if errors:
        raise PermanentFailure("; ".join(f"{e.field}: {e.reason}" for e in errors))
    headers: dict[str, str] = {**(data.get("headers") or {}), "X-Lastmile-Key": message.key}
    if not any(name.lower() == "message-id" for name in headers):
        headers["Message-ID"] = email_message_id(message.key)
    reply_to = data.get("reply_to")
    mail = DjangoMail(
        subject=message.subject,
        body=message.body,
        from_email=data.get("from_email") or settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        reply_to=[reply_to] if isinstance(reply_to, str) else reply_to,
        headers=headers,
    )
    storage = mail_storage()
    ids = [int(i) for i in data.get("attachments") or []]
    rows = {a.pk: a for a in Attachment.objects.filter(pk__in=ids)}
    for pk in ids:
        row = rows.get(pk)
        if row is None or not row.path or not storage.exists(row.path):
            raise PermanentFailure(f"attachment {pk} of this reply is no longer stored")
        with storage.open(row.path, "rb") as fh:
            mail.attach(row.filename, fh.read(), row.content_type)
    mail.send()
    return next(v for k, v in headers.items() if k.lower() == "message-id")
