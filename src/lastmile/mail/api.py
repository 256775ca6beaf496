"""The inbound-parse webhook: mail a provider received for us, as JSON.

``POST /api/v1/mail/inbound`` with an integration token. The payload becomes an RFC 5322
message and takes the same path as mail received by ``lastmile smtpd``; the same
``message_id`` again answers 200 with the first message (nothing new is written).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field, field_validator

from lastmile.api.auth import viewer_of
from lastmile.api.types import StrictSchema
from lastmile.core.clock import utcnow
from lastmile.core.errors import PermissionDenied
from lastmile.mail.services import InboundAttachment, Received, email_receive, inbound_raw
from lastmile.people.viewers import SYSTEM

router = Router(tags=["mail"])


class AttachmentIn(StrictSchema):
    filename: str = Field(default="", max_length=255)
    content_type: str = Field(default="application/octet-stream", min_length=3, max_length=200)
    content_base64: str


class InboundIn(StrictSchema):
    from_: str = Field(alias="from", min_length=3, max_length=400)
    to: list[str] = Field(min_length=1, max_length=50)
    cc: list[str] = Field(default_factory=list, max_length=50)
    subject: str = Field(default="", max_length=500)
    text: str = ""
    html: str = ""
    headers: dict[str, str] = Field(default_factory=dict, max_length=100)
    message_id: str = Field(default="", max_length=500)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=100)

    @field_validator("to", "cc", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        # Providers send "to" as one string "a@x, b@y" or as a list.
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value


class AttachmentOut(Schema):
    filename: str
    content_type: str
    size: int
    status: str
    reason: str


class InboundOut(Schema):
    id: int
    message_id: str
    created: bool
    case: str | None
    interaction: int | None
    threaded_by: str
    automated: bool
    automated_reason: str
    attachments: list[AttachmentOut]


def inbound_out(received: Received) -> dict[str, Any]:
    email = received.email
    return {
        "id": email.pk,
        "message_id": email.message_id,
        "created": received.created,
        "case": email.case.ref if email.case_id and email.case else None,
        "interaction": email.interaction_id,
        "threaded_by": email.threaded_by,
        "automated": email.is_automated,
        "automated_reason": email.automated_reason,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "status": a.status,
                "reason": a.reason,
            }
            for a in received.attachments
        ],
    }


@router.post(
    "/inbound",
    response={200: InboundOut, 201: InboundOut},
    summary="Receive an email parsed by a provider (inbound-parse webhook)",
)
def inbound(request: HttpRequest, payload: InboundIn) -> Status:
    """201 with the stored message; 200 when this ``message_id`` was already received."""
    if viewer_of(request) is not SYSTEM:
        # An agent's token acts as a person; only an integration delivers customers' mail.
        raise PermissionDenied("only an integration token (no --agent) may deliver inbound mail")
    now = utcnow()
    raw = inbound_raw(
        from_=payload.from_,
        to=payload.to,
        cc=payload.cc,
        subject=payload.subject,
        text=payload.text,
        html=payload.html,
        headers=payload.headers,
        message_id=payload.message_id,
        attachments=[
            InboundAttachment(a.filename, a.content_type, a.content_base64)
            for a in payload.attachments
        ],
        now=now,
    )
    received = email_receive(raw=raw, envelope_rcpts=payload.to + payload.cc, now=now)
    return Status(201 if received.created else 200, inbound_out(received))
