"""The jobs API, under /api/v1/jobs: deliveries and field visits.

Every write honours an ``Idempotency-Key`` header (``jobs.idempotency``): the same key again
answers as the first time did and stores nothing twice. Bad input is a 422 naming the field
(``window.end``, ``lines[0].quantity``); a step the job's state does not allow is a 409
``invalid_transition``; completing without a required proof is a 409 ``proof_missing``.
An agent's token sees and works its teams' jobs only.
"""

import re
from datetime import date as Date
from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import BeforeValidator, Field, WithJsonSchema

from lastmile.api.auth import viewer_of
from lastmile.api.pagination import BoundedLimitOffset, LazyPage
from lastmile.api.types import StrictSchema, UtcDatetime
from lastmile.cases.selectors import case_get
from lastmile.core.clock import utcnow
from lastmile.core.errors import PermissionDenied
from lastmile.customers.api import CustomerRef, resolve_ref
from lastmile.jobs import runs, services
from lastmile.jobs.idempotency import idempotent
from lastmile.jobs.models import Job, JobChange, Proof
from lastmile.jobs.selectors import changes_of, job_get, job_list, slots_free, team_visible
from lastmile.people.selectors import team_by_slug, user_by_username
from lastmile.people.viewers import SYSTEM, Viewer, actor_of

router = Router(tags=["jobs"])


def _day_parse(value: Any) -> Date:
    """A day as ``YYYY-MM-DD`` and nothing else (pydantic alone took ``0`` as 1970-01-01)."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a day as YYYY-MM-DD, e.g. 2026-11-24")
    try:
        return Date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value} is not a day of the calendar") from None


Day = Annotated[
    Date,
    BeforeValidator(_day_parse),
    WithJsonSchema({"type": "string", "format": "date", "description": "YYYY-MM-DD (UTC)"}),
]

ProofKindIn = Literal["signature", "photo", "pin", "qr"]
StateIn = Literal["scheduled", "started", "arrived", "completed", "failed", "cancelled"]


class WindowIn(StrictSchema):
    start: UtcDatetime
    end: UtcDatetime


class LineSchema(StrictSchema):
    sku: str = Field(default="", max_length=64)
    description: str = Field(min_length=1, max_length=300)
    quantity: int
    unit_price: int = Field(description="Minor units (pence, cents)")
    currency: str = Field(min_length=3, max_length=3)


class JobIn(StrictSchema):
    kind: Literal["delivery", "visit"]
    customer: CustomerRef
    team: str = Field(min_length=1, max_length=50)
    case: str | None = Field(default=None, max_length=30)
    assignee: str | None = Field(default=None, max_length=150, description="A username")
    window: WindowIn
    address: str = Field(min_length=1, max_length=500)
    notes: str = Field(default="", max_length=2000, description="For the driver, at the door")
    lines: list[LineSchema] = Field(default_factory=list, max_length=services.MAX_LINES)
    proof: list[ProofKindIn] = Field(default_factory=list, max_length=4)


class WindowOut(Schema):
    start: datetime
    end: datetime


class LineOut(Schema):
    sku: str
    description: str
    quantity: int
    unit_price: int
    currency: str
    total: int


class ProofOut(Schema):
    id: int
    job: int
    kind: str
    at: datetime
    content_hash: str


class InvoiceOut(Schema):
    number: str
    total: int
    currency: str
    pdf_url: str


class JobOut(Schema):
    id: int
    kind: str
    state: str
    customer: int
    case: str | None
    team: str
    assignee: str | None
    address: str
    notes: str
    window: WindowOut
    slot: int
    tracking_url: str
    pin: str | None = Field(
        default=None,
        description="The PIN the customer reads to the driver: to its creator and to "
        "integration tokens only, never to an agent's (a driver's) token",
    )
    required_proofs: list[str]
    proofs: list[ProofOut]
    lines: list[LineOut]
    stop_order: int | None
    eta: datetime | None
    fail_reason: str | None
    visit_loop: int | None
    visit_due: str = Field(description="Why the visit is due when it is, in words")
    followup_loop: int | None
    invoice: InvoiceOut | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


def proof_out(p: Proof) -> dict[str, Any]:
    return {
        "id": p.pk,
        "job": p.job_id,
        "kind": p.kind,
        "at": p.at,
        "content_hash": p.content_hash,
    }


def job_out(job: Job, *, show_pin: bool, zones: services.TeamZones | None = None) -> dict[str, Any]:
    invoice = job.invoice or None
    return {
        "id": job.pk,
        "kind": job.kind,
        "state": job.state,
        "customer": job.customer_id,
        "case": job.case.ref if job.case_id and job.case else None,
        "team": job.team.slug,
        "assignee": job.assignee.username if job.assignee_id and job.assignee else None,
        "address": job.address,
        "notes": job.notes,
        "window": {"start": job.window_start, "end": job.window_end},
        "slot": job.slot_id,
        "tracking_url": services.tracking_url(job),
        "pin": job.pin if show_pin and job.pin else None,
        "required_proofs": list(job.required_proofs),
        "proofs": [proof_out(p) for p in job.proofs.all()],
        "lines": [
            {
                "sku": line.sku,
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "currency": line.currency,
                "total": line.total,
            }
            for line in job.lines.all()
        ],
        "stop_order": job.stop_order,
        "eta": job.eta,
        "fail_reason": job.fail_reason or None,
        "visit_loop": job.visit_loop_id,
        "visit_due": services.visit_due_words(job, zones=zones),
        "followup_loop": job.followup_loop_id,
        "invoice": (
            {k: invoice[k] for k in ("number", "total", "currency", "pdf_url")} if invoice else None
        ),
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "completed_at": job.completed_at,
    }


def _pin_shown(viewer: Viewer) -> bool:
    """An integration sends the PIN to the customer; a driver must hear it from them."""
    return viewer is SYSTEM


def _read_back(job_id: int, viewer: Viewer, *, show_pin: bool | None = None) -> dict[str, Any]:
    job = job_get(job_id=job_id, viewer=viewer)
    return job_out(job, show_pin=_pin_shown(viewer) if show_pin is None else show_pin)


@router.post(
    "",
    response={201: JobOut},
    summary="Book a delivery or visit into one of the team's slots",
)
def create_job(request: HttpRequest, payload: JobIn) -> Status:
    viewer = viewer_of(request)

    def run() -> tuple[int, Any]:
        now = utcnow()
        team = team_by_slug(payload.team)
        assert team is not None
        if not team_visible(team=team, viewer=viewer):
            raise PermissionDenied(f"you may book jobs only for your own teams, not {team.slug}")
        customer = resolve_ref(payload.customer, viewer=viewer, now=now)
        case = case_get(ref=payload.case, viewer=viewer) if payload.case is not None else None
        assignee = user_by_username(payload.assignee)
        job = services.job_create(
            kind=payload.kind,
            customer=customer,
            team=team,
            case=case,
            assignee=assignee,
            window_start=payload.window.start,
            window_end=payload.window.end,
            address=payload.address,
            notes=payload.notes,
            lines=[services.LineIn(**line.model_dump()) for line in payload.lines],
            proofs=payload.proof,
            actor=actor_of(viewer),
            now=now,
        )
        # The creator sends the customer their PIN: it is in this answer.
        return 201, _read_back(job.pk, viewer, show_pin=True)

    return idempotent(request, run)


class SlotsQuery(Schema):
    team: str = Field(min_length=1, max_length=50)
    date: Day


class SlotOut(Schema):
    id: int
    team: str
    start: datetime
    end: datetime
    capacity: int
    booked: int
    free: int
    bookable: bool
    cutoff_minutes: int


@router.get("/slots", response=list[SlotOut], summary="A team's slots on a day, with free places")
def list_slots(request: HttpRequest, filters: Query[SlotsQuery]) -> list[dict[str, Any]]:
    team = team_by_slug(filters.team)
    assert team is not None
    rows = slots_free(viewer=viewer_of(request), team=team, day=filters.date, now=utcnow())
    return [
        {
            "id": r.slot.pk,
            "team": team.slug,
            "start": r.slot.starts_at,
            "end": r.slot.ends_at,
            "capacity": r.slot.capacity,
            "booked": r.booked,
            "free": r.free,
            "bookable": r.bookable,
            "cutoff_minutes": r.slot.cutoff_minutes,
        }
        for r in rows
    ]


class JobsQuery(Schema):
    date: Day | None = Field(default=None, description="Jobs whose window starts that day (UTC)")
    team: str | None = Field(default=None, max_length=50)
    state: StateIn | None = None


@router.get("", response=list[JobOut], summary="Jobs, in the order a day is worked")
@paginate(BoundedLimitOffset)
def list_jobs(request: HttpRequest, filters: Query[JobsQuery]) -> Any:
    viewer = viewer_of(request)
    qs = job_list(
        viewer=viewer, day=filters.date, team=team_by_slug(filters.team), state=filters.state
    )
    show_pin, zones = _pin_shown(viewer), services.TeamZones()
    return LazyPage(qs, lambda job: job_out(job, show_pin=show_pin, zones=zones))


@router.get("/{job_id}", response=JobOut, summary="One job")
def get_job(request: HttpRequest, job_id: int) -> dict[str, Any]:
    return _read_back(job_id, viewer_of(request))


def _transition(request: HttpRequest, job_id: int, step: Any, **kwargs: Any) -> Status:
    viewer = viewer_of(request)
    job = job_get(job_id=job_id, viewer=viewer)

    def run() -> tuple[int, Any]:
        step(job=job, actor=actor_of(viewer), now=utcnow(), **kwargs)
        return 200, _read_back(job_id, viewer)

    return idempotent(request, run, job_id=job.pk)


@router.post("/{job_id}/start", response={200: JobOut}, summary="On the way")
def start_job(request: HttpRequest, job_id: int) -> Status:
    return _transition(request, job_id, services.job_start)


@router.post("/{job_id}/arrive", response={200: JobOut}, summary="At the door")
def arrive_job(request: HttpRequest, job_id: int) -> Status:
    return _transition(request, job_id, services.job_arrive)


@router.post(
    "/{job_id}/complete",
    response={200: JobOut},
    summary="Done, with every required proof: closes the visit, bills, opens the follow-up",
)
def complete_job(request: HttpRequest, job_id: int) -> Status:
    return _transition(request, job_id, services.job_complete)


class FailIn(StrictSchema):
    reason: Literal["not_at_home", "refused", "wrong_address", "damaged", "access_problem"]
    note: str = Field(default="", max_length=500)


@router.post("/{job_id}/fail", response={200: JobOut}, summary="Could not be done, and why")
def fail_job(request: HttpRequest, job_id: int, payload: FailIn) -> Status:
    return _transition(request, job_id, services.job_fail, reason=payload.reason, note=payload.note)


class RescheduleIn(StrictSchema):
    window: WindowIn


@router.post(
    "/{job_id}/reschedule",
    response={200: JobOut},
    summary="Move a scheduled job to another of the team's slots, up to the cut-off",
)
def reschedule_job(request: HttpRequest, job_id: int, payload: RescheduleIn) -> Status:
    return _transition(
        request,
        job_id,
        services.job_reschedule,
        window_start=payload.window.start,
        window_end=payload.window.end,
    )


class EtaIn(StrictSchema):
    eta: UtcDatetime = Field(description="When the driver will be at the door")


@router.post(
    "/{job_id}/eta",
    response={200: JobOut},
    summary="An outside dispatch system's ETA: past the window by more than the grace, the "
    "customer is told once and the team gets a recovery loop; back on time, told that too",
)
def eta_job(request: HttpRequest, job_id: int, payload: EtaIn) -> Status:
    def step(*, job: Job, actor: Any, now: datetime) -> Job:
        return runs.eta_update(job=job, eta=payload.eta, actor=actor, now=now, source="api")

    return _transition(request, job_id, step)


class ReattemptIn(StrictSchema):
    window: WindowIn


@router.post(
    "/{job_id}/reattempt",
    response={201: JobOut},
    summary="Book the re-attempt of a failed job in another of the team's slots (once)",
)
def reattempt_job(request: HttpRequest, job_id: int, payload: ReattemptIn) -> Status:
    viewer = viewer_of(request)
    job = job_get(job_id=job_id, viewer=viewer)

    def run() -> tuple[int, Any]:
        again = services.job_reattempt(
            job=job,
            window_start=payload.window.start,
            window_end=payload.window.end,
            actor=actor_of(viewer),
            now=utcnow(),
        )
        return 201, _read_back(again.pk, viewer)

    return idempotent(request, run, job_id=job.pk)


class CancelIn(StrictSchema):
    reason: str = Field(min_length=1, max_length=500)


@router.post("/{job_id}/cancel", response={200: JobOut}, summary="Cancel a scheduled job")
def cancel_job(request: HttpRequest, job_id: int, payload: CancelIn) -> Status:
    return _transition(request, job_id, services.job_cancel, reason=payload.reason)


class ProofIn(StrictSchema):
    kind: ProofKindIn
    data: str = Field(
        min_length=1,
        max_length=services.MAX_PROOF_BYTES,
        description="A signature or photo: a PNG or JPEG picture as a data URL "
        "(data:image/png;base64,…) or bare base64 (anything else is a 422 naming data); the "
        "PIN the customer read out; or the code scanned (at most 4,296 characters)",
    )


@router.post("/{job_id}/proofs", response={201: ProofOut}, summary="Record a proof at the door")
def add_proof(request: HttpRequest, job_id: int, payload: ProofIn) -> Status:
    viewer = viewer_of(request)
    job = job_get(job_id=job_id, viewer=viewer)

    def run() -> tuple[int, Any]:
        proof = services.proof_add(
            job=job, kind=payload.kind, data=payload.data, actor=actor_of(viewer), now=utcnow()
        )
        return 201, proof_out(proof)

    return idempotent(request, run, job_id=job.pk)


# --- on site: changing the work with the customer's consent ----------------------------------


class PartIn(StrictSchema):
    sku: str | None = Field(default=None, max_length=64, description="The split line's if left out")
    description: str = Field(max_length=300)
    quantity: int = 1
    unit_price: int = Field(description="Minor units (pence, cents)")
    currency: str | None = Field(default=None, description="The job's currency if left out")


class ChangeOpIn(StrictSchema):
    op: Literal["add", "split", "remove"]
    line: int | None = Field(
        default=None, description="split, remove: the place of the job's line, from 0"
    )
    sku: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=300, description="add")
    quantity: int | None = Field(default=None, description="add (1 if left out)")
    unit_price: int | None = Field(default=None, description="add: minor units")
    currency: str | None = None
    parts: list[PartIn] | None = Field(
        default=None, max_length=services.MAX_SPLIT_PARTS, description="split: 2 or more"
    )


class ChangeIn(StrictSchema):
    ref: str | None = Field(
        default=None,
        max_length=64,
        description="The change's name within the job (made if left out); the driver's page "
        "chooses it offline",
    )
    ops: list[ChangeOpIn] = Field(max_length=services.MAX_CHANGE_OPS)
    note: str = Field(default="", max_length=500)


class ConsentIn(StrictSchema):
    via: Literal["signature", "pin"]
    data: str = Field(
        min_length=1,
        max_length=services.MAX_PROOF_BYTES,
        description="The signature drawn (a data URL) or the PIN the customer read out",
    )


class DeclineIn(StrictSchema):
    reason: str = Field(default="", max_length=500)


class ChangeOut(Schema):
    id: int
    ref: str
    job: int
    state: str
    summary: list[dict[str, Any]] = Field(description="The ops as proposed")
    before: list[LineOut]
    after: list[LineOut]
    currency: str
    total_before: int
    total_after: int
    note: str
    proposed_at: datetime
    proposed_by: str | None
    decided_at: datetime | None
    decided_by: str | None
    consent: str | None = Field(description="How the customer accepted: signature or pin")
    consent_hash: str | None
    decline_reason: str | None


def _lines_out(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**line, "total": line["quantity"] * line["unit_price"]} for line in lines]


def change_out(change: JobChange) -> dict[str, Any]:
    return {
        "id": change.pk,
        "ref": change.ref,
        "job": change.job_id,
        "state": change.state,
        "summary": list(change.ops),
        "before": _lines_out(change.before),
        "after": _lines_out(change.after),
        "currency": change.currency,
        "total_before": change.total_before,
        "total_after": change.total_after,
        "note": change.note,
        "proposed_at": change.proposed_at,
        "proposed_by": change.proposed_by.username if change.proposed_by else None,
        "decided_at": change.decided_at,
        "decided_by": change.decided_by.username if change.decided_by else None,
        "consent": change.consent or None,
        "consent_hash": change.consent_hash or None,
        "decline_reason": change.decline_reason or None,
    }


@router.get("/{job_id}/changes", response=list[ChangeOut], summary="The changes proposed on site")
def list_changes(request: HttpRequest, job_id: int) -> list[dict[str, Any]]:
    job = job_get(job_id=job_id, viewer=viewer_of(request))
    return [change_out(c) for c in changes_of(job=job)]


@router.post(
    "/{job_id}/changes",
    response={201: ChangeOut},
    summary="Propose a change of the work at the door (a line added, split or removed): "
    "the lines change only when the customer accepts",
)
def propose_change(request: HttpRequest, job_id: int, payload: ChangeIn) -> Status:
    viewer = viewer_of(request)
    job = job_get(job_id=job_id, viewer=viewer)

    def run() -> tuple[int, Any]:
        change = services.change_propose(
            job=job,
            ref=payload.ref,
            ops=[op.model_dump(exclude_none=True) for op in payload.ops],
            note=payload.note,
            actor=actor_of(viewer),
            now=utcnow(),
        )
        return 201, change_out(change)

    return idempotent(request, run, job_id=job.pk)


def _decide(request: HttpRequest, job_id: int, step: Any, **kwargs: Any) -> Status:
    viewer = viewer_of(request)
    job = job_get(job_id=job_id, viewer=viewer)

    def run() -> tuple[int, Any]:
        change = step(job=job, actor=actor_of(viewer), now=utcnow(), **kwargs)
        return 200, change_out(change)

    return idempotent(request, run, job_id=job.pk)


@router.post(
    "/{job_id}/changes/{ref}/accept",
    response={200: ChangeOut},
    summary="The customer accepts the change by signature or PIN: the job's lines become its",
)
def accept_change(request: HttpRequest, job_id: int, ref: str, payload: ConsentIn) -> Status:
    return _decide(
        request, job_id, services.change_accept, ref=ref, via=payload.via, data=payload.data
    )


@router.post(
    "/{job_id}/changes/{ref}/decline",
    response={200: ChangeOut},
    summary="The customer declines the change: the lines stay as they are",
)
def decline_change(request: HttpRequest, job_id: int, ref: str, payload: DeclineIn) -> Status:
    return _decide(request, job_id, services.change_decline, ref=ref, reason=payload.reason)
