"""API for writing on a case: ``POST /api/v1/cases/{ref}/messages`` (a reply or a note).

Mounted as a second router on ``/v1/cases`` beside ``loops.cases_api``: it writes through
``channels.replies``, the same service as the console, so a reply the API sends is routed,
refused or logged exactly as one sent from the composer.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from lastmile.api.auth import viewer_of
from lastmile.api.types import StrictSchema
from lastmile.cases.selectors import case_get
from lastmile.channels.replies import (
    REPLY_BODY_MAX,
    Delivery,
    OutgoingFile,
    case_note_add,
    case_reply_send,
    files_checked,
    newer_messages_check,
    reply_file_limits,
)
from lastmile.core.clock import utcnow
from lastmile.core.errors import FieldError, InvalidInput
from lastmile.people.viewers import actor_of

router = Router(tags=["cases"])

MAX_FILES_IN_BODY = 20


class AttachmentIn(StrictSchema):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=3, max_length=200)
    content_base64: str = Field(description="the file's bytes, base64")


class MessageIn(StrictSchema):
    kind: Literal["reply", "note"]
    channel: str = Field(
        default="",
        max_length=60,
        description="for a reply: email, sms, whatsapp, chat, portal; or, with log_only, "
        "any channel the reply was given on (phone, web, social:<network>…)",
    )
    body: str = Field(min_length=1, max_length=REPLY_BODY_MAX)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_FILES_IN_BODY)
    log_only: bool = Field(
        default=False,
        description="record a reply given elsewhere; nothing is sent (delivery: logged)",
    )
    seen: int | None = Field(
        default=None,
        ge=0,
        description="the id of the newest interaction on the case the writer has read: if "
        "the customer or a colleague wrote since, 409 newer_messages lists what arrived",
    )
    force: bool = Field(default=False, description="write even if newer messages arrived")


class MessageOut(Schema):
    id: int
    delivery: Literal["queued", "posted", "logged", "note"]
    outbox: int | None = Field(description="the outbox message delivering it, when queued")


def _files(items: list[AttachmentIn]) -> list[OutgoingFile]:
    files = []
    for i, a in enumerate(items):
        try:
            content = base64.b64decode(a.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                f"attachment {a.filename} is not valid base64",
                [FieldError("attachments.content_base64", "not base64", index=i)],
            ) from None
        files.append(OutgoingFile(a.filename, a.content_type, content))
    limits = reply_file_limits(base64=True)
    if files and limits is not None:
        # The API's own per-file limit (what fits in a request, in base64), said with the
        # file's name and index, before the route checks its own.
        files_checked(files, limits)
    return files


@router.post(
    "/{ref}/messages",
    response={201: MessageOut},
    summary="Reply to the customer, or add an internal note",
    description="A reply goes out on `channel` when something delivers there for this case "
    "(delivery `queued`, with the outbox id; the portal: `posted`); on any other channel it "
    "is refused with 422 `channel_not_deliverable`, unless `log_only` records it as a reply "
    "given elsewhere (delivery `logged`, nothing sent). An agent's token writes only on "
    "cases its agent may open. Attachments (email only): each file at most the smaller of "
    "`LASTMILE_MAIL_ATTACHMENT_MAX_BYTES` and three quarters of `LASTMILE_MAX_BODY_BYTES` "
    "less 64 KB (base64 takes a third more; about 3.7 MB by default), refused with 422 "
    "naming the file (field `attachments`, its index); a request body over "
    "`LASTMILE_MAX_BODY_BYTES` is refused whole with 413 `too_large`. With `seen` (the "
    "newest interaction id the writer has read), a message from the customer or a colleague "
    "since then answers 409 `newer_messages`, one error per message (field `seen`), "
    "unless `force` is true.",
    operation_id="lastmile_channels_messages_api_create_message",
)
def create_message(request: HttpRequest, ref: str, payload: MessageIn) -> Status:
    viewer = viewer_of(request)
    case = case_get(ref=ref, viewer=viewer)
    now = utcnow()
    actor = actor_of(viewer)
    if not payload.force:
        newer_messages_check(case=case, seen=payload.seen, actor=actor)
    if payload.kind == "note":
        if payload.attachments or payload.log_only or payload.channel:
            raise InvalidInput(
                "a note takes only a body",
                [FieldError("kind", "channel, attachments and log_only are for replies")],
            )
        note = case_note_add(case=case, body=payload.body, actor=actor, now=now)
        return Status(201, {"id": note.pk, "delivery": "note", "outbox": None})
    sent = case_reply_send(
        case=case,
        channel=payload.channel,
        body=payload.body,
        files=_files(payload.attachments),
        log_only=payload.log_only,
        actor=actor,
        now=now,
    )
    delivery = Delivery(sent.delivery).value
    return Status(201, {"id": sent.interaction.pk, "delivery": delivery, "outbox": sent.outbox_id})
