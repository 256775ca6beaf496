"""The responders API, under /api/v1/responders: enrolments (admins and leads) and guarded
replies (the responder writes; the lead approves or returns).

Scoped like the pages: a responder's token sees its own enrolment and replies, a lead's those
of the teams it leads, an admin's or an integration's everything; anything else is 404.
"""

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from django.contrib.auth.models import User
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from lastmile.api.auth import viewer_of
from lastmile.api.pagination import BoundedLimitOffset, LazyPage
from lastmile.api.types import StrictSchema, UtcDatetime
from lastmile.cases.selectors import case_held
from lastmile.core.clock import utcnow
from lastmile.core.errors import FieldError, InvalidInput, NotFound, PermissionDenied
from lastmile.listening.selectors import mention_get
from lastmile.macros.models import Macro
from lastmile.people.selectors import team_by_slug, user_by_username
from lastmile.people.viewers import SYSTEM, actor_of
from lastmile.responders import selectors, services
from lastmile.responders.models import Enrolment, ResponderReply

router = Router(tags=["responders"])

MacroId = Annotated[int, Field(ge=1, le=2**62)]

HEADER = "Idempotency-Key"
MAX_KEY = 200


# --- enrolments ------------------------------------------------------------------------------


class EnrolmentOut(Schema):
    id: int
    user: str
    team: str
    approver: str | None
    networks: list[str]
    case_replies: bool
    macros: list[int]
    free_text: bool
    simple_tag: str
    simple_max_messages: int
    approvals_needed: int
    approved_so_far: int
    active: bool
    valid_until: datetime | None
    created_at: datetime


def enrolment_out(e: Enrolment) -> dict[str, Any]:
    approver = selectors.approver_of(e)
    return {
        "id": e.pk,
        "user": e.user.username,
        "team": e.team.slug,
        "approver": approver.username if approver is not None else None,
        "networks": list(e.networks or []),
        "case_replies": e.case_replies,
        "macros": sorted(m.pk for m in e.macros.all()),
        "free_text": e.free_text,
        "simple_tag": e.simple_tag,
        "simple_max_messages": e.simple_max_messages,
        "approvals_needed": e.approvals_needed,
        "approved_so_far": selectors.approved_count(e),
        "active": e.active,
        "valid_until": e.valid_until,
        "created_at": e.created_at,
    }


class EnrolmentFields(StrictSchema):
    approver: str | None = Field(default=None, max_length=150, description="a username")
    networks: list[str] = Field(default_factory=list, max_length=20)
    case_replies: bool = False
    macros: list[MacroId] = Field(
        default_factory=list, max_length=200, description="ids of the team's shared macros"
    )
    free_text: bool = False
    simple_tag: str = Field(default="", max_length=50)
    simple_max_messages: int = Field(default=4, ge=0, le=10_000)
    approvals_needed: int = Field(default=5, ge=0, le=services.MAX_APPROVALS)
    active: bool = True
    valid_until: UtcDatetime | None = None


class EnrolmentIn(EnrolmentFields):
    user: str = Field(min_length=1, max_length=150, description="the responder's username")
    team: str = Field(min_length=1, max_length=50, description="the sponsoring team's slug")


class EnrolmentPatch(StrictSchema):
    team: str | None = Field(default=None, min_length=1, max_length=50)
    approver: str | None = Field(default=None, max_length=150)
    networks: list[str] | None = Field(default=None, max_length=20)
    case_replies: bool | None = None
    macros: list[MacroId] | None = Field(default=None, max_length=200)
    free_text: bool | None = None
    simple_tag: str | None = Field(default=None, max_length=50)
    simple_max_messages: int | None = Field(default=None, ge=0, le=10_000)
    approvals_needed: int | None = Field(default=None, ge=0, le=services.MAX_APPROVALS)
    active: bool | None = None
    valid_until: UtcDatetime | None = None


def _macros(ids: list[int]) -> list[Macro]:
    found = {m.pk: m for m in Macro.objects.select_related("team").filter(pk__in=ids)}
    for i, pk in enumerate(ids):
        if pk not in found:
            raise InvalidInput(f"no macro {pk}", [FieldError("macros", f"no macro {pk}", index=i)])
    return [found[pk] for pk in ids]


def _required_team(slug: str) -> Any:
    team = team_by_slug(slug)
    assert team is not None
    return team


@router.get("/enrolments", response=list[EnrolmentOut], summary="Enrolments in my scope")
@paginate(BoundedLimitOffset)
def list_enrolments(request: HttpRequest) -> Any:
    qs = selectors.enrolments_visible(viewer=viewer_of(request)).order_by("user__username")
    return LazyPage(qs, enrolment_out)


@router.post(
    "/enrolments",
    response={201: EnrolmentOut},
    summary="Enrol a responder (an admin, or a lead of the sponsoring team)",
)
def create_enrolment(request: HttpRequest, payload: EnrolmentIn) -> Status:
    viewer = viewer_of(request)
    user = user_by_username(payload.user, field="user")
    assert user is not None
    row = services.enrolment_save(
        user=user,
        team=_required_team(payload.team),
        approver=user_by_username(payload.approver, field="approver"),
        networks=payload.networks,
        case_replies=payload.case_replies,
        macros=_macros(payload.macros),
        free_text=payload.free_text,
        simple_tag=payload.simple_tag,
        simple_max_messages=payload.simple_max_messages,
        approvals_needed=payload.approvals_needed,
        active=payload.active,
        valid_until=payload.valid_until,
        actor=actor_of(viewer),
        now=utcnow(),
    )
    return Status(201, enrolment_out(row))


@router.get("/enrolments/{enrolment_id}", response=EnrolmentOut, summary="One enrolment")
def get_enrolment(request: HttpRequest, enrolment_id: int) -> dict[str, Any]:
    return enrolment_out(
        selectors.enrolment_get(enrolment_id=enrolment_id, viewer=viewer_of(request))
    )


@router.patch(
    "/enrolments/{enrolment_id}",
    response=EnrolmentOut,
    summary="Change an enrolment's limits, pause or resume it",
)
def patch_enrolment(request: HttpRequest, enrolment_id: int, payload: EnrolmentPatch) -> Any:
    viewer = viewer_of(request)
    e = selectors.enrolment_get(enrolment_id=enrolment_id, viewer=viewer)
    given = payload.model_fields_set
    for name in given:
        if getattr(payload, name) is None and name not in ("approver", "valid_until"):
            raise InvalidInput(f"{name} cannot be null", [FieldError(name, "must not be null")])
    now = utcnow()
    actor = actor_of(viewer)
    if given == {"active"}:
        assert payload.active is not None
        row = services.enrolment_set_active(
            enrolment=e, active=payload.active, actor=actor, now=now
        )
        return enrolment_out(row)

    def pick(name: str, current: Any) -> Any:
        return getattr(payload, name) if name in given else current

    row = services.enrolment_save(
        enrolment=e,
        user=e.user,
        team=_required_team(payload.team) if "team" in given and payload.team else e.team,
        approver=(
            user_by_username(payload.approver, field="approver")
            if "approver" in given
            else e.approver
        ),
        networks=pick("networks", e.networks),
        case_replies=pick("case_replies", e.case_replies),
        macros=_macros(payload.macros or []) if "macros" in given else list(e.macros.all()),
        free_text=pick("free_text", e.free_text),
        simple_tag=pick("simple_tag", e.simple_tag),
        simple_max_messages=pick("simple_max_messages", e.simple_max_messages),
        approvals_needed=pick("approvals_needed", e.approvals_needed),
        active=pick("active", e.active),
        valid_until=pick("valid_until", e.valid_until),
        actor=actor,
        now=now,
    )
    return enrolment_out(row)


# --- replies ---------------------------------------------------------------------------------


class ResponderVerdictOut(Schema):
    policy: str
    title: str
    version: int
    severity: str
    result: str
    text: str
    detail: str


class ReplyOut(Schema):
    id: int
    responder: str
    team: str
    target: Literal["mention", "case"]
    mention: int | None
    case: str | None
    channel: str
    macro: int | None
    macro_name: str
    body: str
    edited: bool
    state: Literal["refused", "blocked", "held", "sent", "returned"]
    reason: str
    limit: str
    hold: list[str]
    verdicts: list[ResponderVerdictOut]
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str
    sent_at: datetime | None
    delivery: str
    interaction: int | None


def reply_out(r: ResponderReply) -> dict[str, Any]:
    return {
        "id": r.pk,
        "responder": r.responder.username,
        "team": r.team.slug,
        "target": r.target,
        "mention": r.mention_id,
        "case": r.case.ref if r.case is not None else None,
        "channel": r.channel,
        "macro": r.macro_id,
        "macro_name": r.macro_name,
        "body": r.body,
        "edited": r.edited,
        "state": r.state,
        "reason": r.reason,
        "limit": r.limit,
        "hold": list(r.hold or []),
        "verdicts": list(r.verdicts or []),
        "created_at": r.created_at,
        "decided_by": r.decided_by.username if r.decided_by is not None else None,
        "decided_at": r.decided_at,
        "note": r.note,
        "sent_at": r.sent_at,
        "delivery": r.delivery,
        "interaction": r.interaction_id,
    }


class ReplyIn(StrictSchema):
    mention: int | None = Field(default=None, ge=1, le=2**62, description="a mention's id")
    case: str | None = Field(default=None, max_length=40, description="a case reference")
    macro: int | None = Field(
        default=None, ge=1, le=2**62, description="one of the enrolment's saved responses"
    )
    body: str = Field(
        default="",
        max_length=services.REPLY_BODY_MAX,
        description="the text: empty sends the saved response as it is; anything else is "
        "free text (only if the enrolment allows it)",
    )


class RepliesQuery(Schema):
    state: Literal["refused", "blocked", "held", "sent", "returned"] | None = None
    responder: str | None = Field(default=None, max_length=150)


class ResponderReturnIn(StrictSchema):
    note: str = Field(max_length=services.NOTE_MAX, description="why, for the responder")


def _key(request: HttpRequest) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY or not key.isprintable() or not key.isascii():
        raise InvalidInput(
            "bad Idempotency-Key",
            [FieldError(HEADER, f"1 to {MAX_KEY} printable ASCII characters")],
        )
    return key


def _fingerprint(payload: ReplyIn) -> str:
    data = json.dumps(payload.model_dump(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


def _responder(request: HttpRequest) -> User:
    viewer = viewer_of(request)
    if viewer is SYSTEM:
        raise PermissionDenied("a guarded reply is a responder's: use the responder's token")
    return viewer


@router.get(
    "/replies", response=list[ReplyOut], summary="Guarded replies in my scope, newest first"
)
@paginate(BoundedLimitOffset)
def list_replies(request: HttpRequest, filters: Query[RepliesQuery]) -> Any:
    qs = selectors.replies_visible(viewer=viewer_of(request))
    if filters.state:
        qs = qs.filter(state=filters.state)
    if filters.responder:
        qs = qs.filter(responder__username=filters.responder)
    return LazyPage(qs.order_by("-created_at", "-id"), reply_out)


@router.post(
    "/replies",
    response={200: ReplyOut, 201: ReplyOut},
    summary="Reply as a guarded responder",
    description="Reply to a `mention` or on a `case` (one of them) with one of the enrolment's "
    "saved responses (`macro`), as it is or, if the enrolment allows free text, with a `body` "
    "of one's own. 201 with `state` `sent` (it went out) or `held` (the lead approves it: one "
    "of the first replies, or a policy warned). Refused: 403 naming the limit in `errors` "
    "(`network`, `mention`, `case`, `macro`, `free_text`, `active`, `valid_until`); 409 "
    "`policy_blocked` with the policy's text; 409 when the mention is answered already or a "
    "reply to it waits for the lead. A refused or blocked attempt is recorded all the same. "
    "With an `Idempotency-Key` header, the same key again answers 200 with the first reply "
    "(or its refusal), nothing written; with another body, 422 `idempotency_key_reused`.",
)
def create_reply(request: HttpRequest, payload: ReplyIn) -> Status:
    responder = _responder(request)
    key = _key(request)
    mention = case = macro = None
    if payload.mention is not None:
        try:
            mention = mention_get(mention_id=payload.mention)
        except NotFound:
            raise InvalidInput(
                f"no mention {payload.mention}", [FieldError("mention", "not found")]
            ) from None
    if payload.case:
        case = case_held(ref=payload.case)
        if case is None:
            raise InvalidInput(f"no case {payload.case}", [FieldError("case", "not found")])
    if payload.macro is not None:
        macro = Macro.objects.filter(pk=payload.macro).first()
        if macro is None:
            raise InvalidInput(f"no macro {payload.macro}", [FieldError("macro", "not found")])
    row, created = services.reply_submit(
        responder=responder,
        now=utcnow(),
        mention=mention,
        case=case,
        macro=macro,
        body=payload.body,
        idempotency_key=key,
        fingerprint=_fingerprint(payload),
    )
    row = selectors.reply_get(reply_id=row.pk, viewer=responder)
    return Status(201 if created else 200, reply_out(row))


@router.get("/replies/{reply_id}", response=ReplyOut, summary="One guarded reply")
def get_reply(request: HttpRequest, reply_id: int) -> dict[str, Any]:
    return reply_out(selectors.reply_get(reply_id=reply_id, viewer=viewer_of(request)))


def _decider(request: HttpRequest) -> User:
    viewer = viewer_of(request)
    if viewer is SYSTEM:
        raise PermissionDenied("a lead decides a held reply: use the lead's token")
    return viewer


@router.post(
    "/replies/{reply_id}/approve",
    response=ReplyOut,
    summary="Approve a held reply: it is sent now (409 if it is not held)",
)
def approve_reply(request: HttpRequest, reply_id: int) -> dict[str, Any]:
    lead = _decider(request)
    row = selectors.reply_get(reply_id=reply_id, viewer=lead)
    services.reply_approve(reply=row, actor=lead, now=utcnow())
    return reply_out(selectors.reply_get(reply_id=reply_id, viewer=lead))


@router.post(
    "/replies/{reply_id}/return",
    response=ReplyOut,
    summary="Return a held reply with a note: nothing is sent (409 if it is not held)",
)
def return_reply(request: HttpRequest, reply_id: int, payload: ResponderReturnIn) -> dict[str, Any]:
    lead = _decider(request)
    row = selectors.reply_get(reply_id=reply_id, viewer=lead)
    services.reply_return(reply=row, actor=lead, note=payload.note, now=utcnow())
    return reply_out(selectors.reply_get(reply_id=reply_id, viewer=lead))
