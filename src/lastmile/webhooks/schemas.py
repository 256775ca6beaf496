"""The inbound message's JSON shape, checked at the edge (pydantic), and its errors as
``FieldError``s in the API's error body."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lastmile.core.errors import DomainError, ErrorCode, FieldError, InvalidInput
from lastmile.core.instants import UtcDatetime
from lastmile.core.jsonbody import JsonBodyError, json_load
from lastmile.webhooks.services.integrations import MAX_MEDIA, MAX_TEXT, Media, MessageIn

MAX_BODY_BYTES = 256 * 1024
CONTENT_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]{1,60}/[A-Za-z0-9!#$&^_.+-]{1,60}$")


class MediaSchema(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str = Field(min_length=1, max_length=2000)
    content_type: str = Field(min_length=3, max_length=121)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return v

    @field_validator("content_type")
    @classmethod
    def _content_type(cls, v: str) -> str:
        if not CONTENT_TYPE.match(v):
            raise ValueError("must be a media type like image/jpeg")
        return v.lower()


class MessageSchema(BaseModel):
    """``{"channel", "from", "to", "text", "media": [{"url", "content_type"}],
    "external_id", "timestamp", "name"?}``; unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore")

    channel: str = Field(min_length=1, max_length=20)
    sender: str = Field(alias="from", min_length=1, max_length=320)
    recipient: str = Field(alias="to", min_length=1, max_length=320)
    text: str = Field(default="", max_length=MAX_TEXT)
    media: list[MediaSchema] = Field(default_factory=list, max_length=MAX_MEDIA)
    external_id: str = Field(min_length=1, max_length=150)
    timestamp: UtcDatetime
    name: str = Field(default="", max_length=200)

    @field_validator("sender", "recipient", "external_id", "channel")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be blank")
        return v


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def message_parse(body: bytes) -> MessageIn:
    """The message in ``body``, or a DomainError: 400 for what is not JSON or JSON no
    handler can take (``json_load``: nesting deeper than 32, NaN, NUL, lone surrogates),
    422 naming each bad field."""
    try:
        data = json_load(body)
    except JsonBodyError as exc:
        raise DomainError(
            detail=f"the body is not JSON lastmile accepts: {exc.reason}",
            errors=[FieldError("body", exc.reason)],
            code=ErrorCode.BAD_REQUEST,
            status=400,
        ) from None
    if not isinstance(data, dict):
        raise DomainError(
            detail="the body must be a JSON object",
            errors=[FieldError("body", f"got a JSON {type(data).__name__}, not an object")],
            code=ErrorCode.BAD_REQUEST,
            status=400,
        )
    try:
        parsed = MessageSchema.model_validate(data)
    except ValidationError as exc:
        errors = [
            FieldError(_field(e["loc"]), str(e["msg"]).removeprefix("Value error, "))
            for e in exc.errors()
        ]
        raise InvalidInput(f"{errors[0].field}: {errors[0].reason}", errors) from None
    if not parsed.text.strip() and not parsed.media:
        raise InvalidInput(
            "the message has neither text nor media",
            [FieldError("text", "give text, media or both")],
        )
    return MessageIn(
        channel=parsed.channel,
        sender=parsed.sender,
        recipient=parsed.recipient,
        external_id=parsed.external_id,
        occurred_at=parsed.timestamp,
        text=parsed.text.strip(),
        media=tuple(Media(m.url, m.content_type) for m in parsed.media),
        name=parsed.name.strip(),
    )
