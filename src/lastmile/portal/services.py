"""The customer portal: magic links, and what a signed-in customer may do.

Every service here takes the customer from the portal session, never from the request's
parameters, and checks that what it touches belongs to that customer.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db import transaction
from django.template.defaultfilters import filesizeformat

from lastmile.cases.models import Case, CaseStatus
from lastmile.core.errors import FieldError, InvalidInput, NotFound
from lastmile.customers.models import Customer, Direction, Identity, IdentityKind, Interaction
from lastmile.jobs.models import JobState, Slot
from lastmile.jobs.services import job_reattempt, job_reschedule
from lastmile.journeys.models import CustomerAction, JourneyStep
from lastmile.journeys.services import step_complete_by_customer
from lastmile.people.viewers import Actor
from lastmile.portal.models import PortalLink

SALT = "lastmile.portal.link"
DEFAULT_TTL = timedelta(hours=72)
MESSAGE_MAX = 5000


class LinkRefused(Exception):
    """A link that cannot start a session; ``reason`` is shown to the customer."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def customer_email(customer: Customer) -> str:
    return (
        Identity.objects.filter(customer=customer, kind=IdentityKind.EMAIL)
        .order_by("id")
        .values_list("value", flat=True)
        .first()
        or ""
    )


@dataclass
class IssuedLink:
    link: PortalLink
    token: str

    @property
    def path(self) -> str:
        return f"/portal/start/{self.token}/"


def portal_link_issue(
    *,
    customer: Customer,
    now: datetime,
    actor: Actor = None,
    ttl: timedelta = DEFAULT_TTL,
    send: bool = True,
) -> IssuedLink:
    """Make a link for ``customer`` and, with ``send``, email it through the outbox.

    The outbox row is written in this transaction, so a link is never mailed that was
    not stored, nor stored and silently not mailed. The emailed URL starts with
    ``LASTMILE_PUBLIC_URL``, never with the Host a request named (a forged Host header
    would otherwise send the customer's sign-in link to another site).
    """
    from lastmile.channels.services import outbox_enqueue, outbox_message

    if customer.merged_into_id:
        customer = Customer.objects.get(pk=customer.merged_into_id)
    email = customer_email(customer)
    if send and not email:
        raise InvalidInput(
            "this customer has no email address to send a portal link to",
            [FieldError("customer", "has no email identity")],
        )
    nonce = secrets.token_urlsafe(24)
    with transaction.atomic():
        link = PortalLink.objects.create(
            customer=customer,
            nonce_hash=_hash(nonce),
            created_at=now,
            expires_at=now + ttl,
            created_by=actor,
            sent_to=email if send else "",
        )
        issued = IssuedLink(link, signing.dumps({"l": link.pk, "n": nonce}, salt=SALT))
        if send:
            url = settings.LASTMILE_PUBLIC_URL.rstrip("/") + issued.path
            outbox_enqueue(
                [
                    outbox_message(
                        key=f"portal-link:{link.pk}",
                        purpose="notification",
                        recipient=email,
                        subject="Your link to follow your requests",
                        body=(
                            f"Hello {customer},\n\nFollow your requests, the steps in progress "
                            f"and what we promised you here:\n{url}\n\n"
                            f"The link works once and expires on {link.expires_at:%d %b %Y %H:%M} UTC.\n"
                        ),
                        data={"portal_link": link.pk, "customer": customer.pk},
                        now=now,
                    )
                ]
            )
    return issued


def portal_link_check(token: str, *, now: datetime) -> PortalLink:
    """The link a token names, or ``LinkRefused`` saying why it cannot be used."""
    try:
        payload = signing.loads(token, salt=SALT)
        link_id, nonce = int(payload["l"]), str(payload["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise LinkRefused(
            "This link is not valid. It may have been copied incompletely or altered.", 400
        ) from None
    link = PortalLink.objects.filter(pk=link_id).select_related("customer").first()
    if link is None or not secrets.compare_digest(link.nonce_hash, _hash(nonce)):
        raise LinkRefused("This link is not valid.", 400)
    if link.used_at is not None:
        raise LinkRefused(
            "This link has already been used. Ask us for a new one, or use the latest email.", 410
        )
    if link.expires_at <= now:
        raise LinkRefused("This link has expired. Ask us for a new one.", 410)
    return link


def portal_link_redeem(token: str, *, now: datetime) -> Customer:
    """Use a link (once) and return the customer whose session it starts."""
    with transaction.atomic():
        link = portal_link_check(token, now=now)
        # The conditional update is the single-use guarantee, even under a race.
        if not PortalLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=now):
            raise LinkRefused("This link has already been used.", 410)
        customer = link.customer
        while customer.merged_into_id:
            customer = Customer.objects.get(pk=customer.merged_into_id)
        return customer


def portal_case_get(*, customer: Customer, ref: str) -> Case:
    """One of the customer's own cases; any other is simply not found."""
    from lastmile.cases.selectors import cases_by_ref

    case = cases_by_ref([ref]).get(ref.upper())
    if case is None or case.customer_id != customer.pk:
        raise NotFound("case not found")
    return case


def portal_message_add(*, customer: Customer, case: Case, body: str, now: datetime) -> Interaction:
    """The customer writes on their case: it lands on the timeline and opens a reply loop."""
    from lastmile.customers.services.timeline import interaction_record

    if case.customer_id != customer.pk:
        raise NotFound("case not found")
    body = (body or "").strip()
    if not body:
        raise InvalidInput("write a message first", [FieldError("body", "must not be empty")])
    if len(body) > MESSAGE_MAX:
        raise InvalidInput(
            "the message is too long", [FieldError("body", f"at most {MESSAGE_MAX} characters")]
        )
    if case.status == CaseStatus.CLOSED:
        raise InvalidInput(
            "this request is closed; write to us to open a new one",
            [FieldError("case", "is closed")],
        )
    return interaction_record(
        customer=customer,
        case=case,
        channel="portal",
        direction=Direction.INBOUND,
        occurred_at=now,
        now=now,
        body=body,
    )


# Uploads: the type is read from the file's first bytes, never from its name or the browser.
SIGNATURES = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}


def upload_storage() -> FileSystemStorage:
    return FileSystemStorage(location=settings.VAR_DIR / "portal-uploads")


def upload_check(*, name: str, content: bytes) -> str:
    """The sniffed content type of an upload, or InvalidInput naming the limit it breaks."""
    limit = settings.LASTMILE_PORTAL_UPLOAD_MAX_BYTES
    if not content:
        raise InvalidInput("the file is empty", [FieldError("file", "is empty")])
    if len(content) > limit:
        raise InvalidInput(
            "the file is too large",
            [FieldError("file", f"at most {filesizeformat(limit)}")],
        )
    for content_type, prefixes in SIGNATURES.items():
        if any(content.startswith(p) for p in prefixes):
            return content_type
    raise InvalidInput(
        "this kind of file is not accepted",
        [FieldError("file", "must be a PDF, PNG or JPEG file")],
    )


def upload_store(*, customer: Customer, name: str, content: bytes) -> dict[str, Any]:
    content_type = upload_check(name=name, content=content)
    safe = "".join(c for c in name if c.isalnum() or c in "._-")[-80:] or "upload"
    stored = upload_storage().save(
        f"{customer.pk}/{secrets.token_hex(8)}-{safe}", ContentFile(content)
    )
    return {"file": stored, "name": name[:200], "size": len(content), "content_type": content_type}


def portal_step_answer(
    *,
    customer: Customer,
    step: JourneyStep,
    now: datetime,
    upload: tuple[str, bytes] | None = None,
    slot: str = "",
    confirmed: bool = False,
) -> JourneyStep:
    """The customer completes one of their own steps from the portal: an upload (name and
    bytes), a slot (one of the windows offered, "start/end"), or a confirmation, by the
    step's action.

    An upload is stored first and removed again if the step does not take it, whatever
    stopped it (a refused answer, a step no longer open), so nothing of it is kept.
    """
    stored: dict[str, Any] | None = None
    try:
        if step.customer_action == CustomerAction.UPLOAD:
            if upload is None:
                raise InvalidInput("choose a file to upload", [FieldError("file", "is required")])
            name, content = upload
            stored = upload_store(customer=customer, name=name, content=content)
            data: dict[str, Any] = {"file": stored["file"], "name": stored["name"]}
        elif step.customer_action == CustomerAction.CHOOSE_SLOT:
            # The form sends one offered window as an ISO 8601 interval, "start/end".
            start, _, end = slot.partition("/")
            data = {"slot": {"start": start, "end": end}}
        else:
            data = {"confirmed": confirmed}
        done = step_complete_by_customer(step=step, customer=customer, data=data, now=now)
        stored = None  # the step took the file
        return done
    finally:
        if stored is not None:
            upload_storage().delete(stored["file"])


def upload_open(*, step: JourneyStep) -> tuple[str, Any, str]:
    """The file the customer uploaded for a step: its sniffed type, an open handle and the
    name to download it by (``download_name``). NotFound unless the customer completed the step with a file of
    theirs that is still in the upload store."""
    data = step.data or {}
    ref = data.get("file")
    theirs = f"{step.journey.case.customer_id}/"
    storage = upload_storage()
    try:
        if (
            step.customer_action != CustomerAction.UPLOAD
            or not step.completed_by_customer
            or not isinstance(ref, str)
            or not ref.startswith(theirs)
            or not storage.exists(ref)
        ):
            raise NotFound(f"upload of step {step.key}")
        handle = storage.open(ref, "rb")
    except (SuspiciousFileOperation, OSError) as exc:
        raise NotFound(f"upload of step {step.key}") from exc
    head = handle.read(16)
    handle.seek(0)
    content_type = next(
        (t for t, prefixes in SIGNATURES.items() if any(head.startswith(p) for p in prefixes)),
        "application/octet-stream",
    )
    return content_type, handle, download_name(str(data.get("name") or ""), content_type)


# The extension a download gets for each type read from the file's bytes.
EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


def download_name(their_name: str, content_type: str) -> str:
    """The customer's name for a file, with its last extension replaced by the one of the
    type read from its bytes: "x.html" holding a PNG downloads as "x.png", so the agent's
    machine opens it as what it is, not as what its name claims."""
    stem = their_name.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    stem = "".join(c for c in stem if c.isalnum() or c in "._- ").strip(" .")[:80] or "upload"
    return f"{stem}.{EXTENSIONS.get(content_type, 'bin')}"


def portal_job_slot(*, customer: Customer, job: Any, slot_id: str, now: datetime) -> Any:
    """The customer chose a slot for one of their jobs: a scheduled job moves to it (up to
    the cut-off, ``jobs.services.job_reschedule``); a failed one is re-attempted in it
    (``job_reattempt``). The slot must be one the page offered (the job's team's, bookable):
    422 naming ``slot`` otherwise. The job the customer should look at next is returned."""
    if job.customer_id != customer.pk:
        raise NotFound(f"job {job.pk}")
    try:
        slot = Slot.objects.get(pk=int(slot_id), team_id=job.team_id)
    except (ValueError, Slot.DoesNotExist):
        raise InvalidInput(
            "choose one of the times offered", [FieldError("slot", "not a time offered")]
        ) from None
    if job.state == JobState.FAILED:
        return job_reattempt(
            job=job, window_start=slot.starts_at, window_end=slot.ends_at, actor=None, now=now
        )
    return job_reschedule(
        job=job, window_start=slot.starts_at, window_end=slot.ends_at, actor=None, now=now
    )
