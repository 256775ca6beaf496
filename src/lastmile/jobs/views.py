"""The jobs' pages: the driver's (or engineer's) page of today's stops, the writes it posts,
and the customer's tracking page.

The driver's page (``/jobs/driver/``) is a console page for a signed-in agent. Its writes
(``/jobs/driver/<id>/start`` …, ``/proofs``, ``/jobs/driver/run/start``) are JSON posts
with the session's CSRF token, scoped to the jobs of the driver's teams, calling the same
services the API calls, and each honours an ``Idempotency-Key`` header through
``jobs.idempotency``: the page's script fixes the key when the driver taps, so a write it
replays after a lost answer or an offline spell is stored once and answered as the first
time. A session has no API token: its keys belong to the signed-in user.

The tracking page (``/jobs/t/<token>/``) needs no login: the unguessable token is the
customer's key to their own job. An unknown token is a plain 404. After completion it links
the job's invoice as a PDF under the same token (``/jobs/t/<token>/invoice.pdf``), so the link
is exactly as unguessable as the page, and opens only the invoice of that job.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from lastmile.console.pages import page_chrome
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, FieldError, InvalidInput, NotFound
from lastmile.invoices.pdf import invoice_pdf
from lastmile.invoices.selectors import invoice_get
from lastmile.jobs import runs, services
from lastmile.jobs.api import change_out, job_out, proof_out
from lastmile.jobs.idempotency import idempotent
from lastmile.jobs.models import ChangeState, FailReason, Job, JobState, ProofKind
from lastmile.jobs.selectors import job_get
from lastmile.people.viewers import SYSTEM, actor_of
from lastmile.promises.selectors import open_promises_for_customer
from lastmile.recovery.services import customer_phone

# --- reading the day -----------------------------------------------------------------------


def _day_of(request: HttpRequest, now: datetime) -> date:
    """The day asked for (``?date=``), else the driver's today in their team's time zone."""
    raw = request.GET.get("date") or ""
    try:
        return (
            date.fromisoformat(raw)
            if len(raw) == 10
            else runs.driver_today(driver=request.user, now=now)
        )
    except ValueError:
        return runs.driver_today(driver=request.user, now=now)


def _promises_by_job(jobs: list[Job]) -> dict[int, list[Any]]:
    """Each job's open promises: those on its case (a job with no case: every open promise
    to the customer). One read per customer."""
    per_customer: dict[int, list[Any]] = {}
    out: dict[int, list[Any]] = {}
    for job in jobs:
        if job.customer_id not in per_customer:
            per_customer[job.customer_id] = open_promises_for_customer(customer=job.customer)
        found = per_customer[job.customer_id]
        out[job.pk] = [p for p in found if p.case_id == job.case_id] if job.case_id else found
    return out


def _money(minor: int, currency: str) -> str:
    return f"{currency} {minor / 100:,.2f}" if currency else f"{minor}"


def stop_rows(jobs: list[Job], *, now: datetime) -> list[dict[str, Any]]:
    """What each stop's card shows."""
    zones = services.TeamZones()
    promises = _promises_by_job(jobs)
    rows = []
    for n, job in enumerate(jobs, start=1):
        zone = zones(job.team_id)
        lines = list(job.lines.all())
        currency = lines[0].currency if lines else ""
        taken = sorted({p.kind for p in job.proofs.all()})
        changes = list(job.changes.all())
        pending = next((c for c in reversed(changes) if c.state == ChangeState.PROPOSED), None)
        rows.append(
            {
                "n": job.stop_order or n,
                "job": job,
                "zone": zone,
                "window": services.window_words(job.window_start, job.window_end, zone),
                "eta": job.eta.astimezone(zone) if job.eta else None,
                "phone": customer_phone(job.customer),
                "notes": _notes(job),
                "promises": promises.get(job.pk, []),
                "lines": [
                    {
                        "line": line,
                        "total": _money(line.total, line.currency),
                        "price": _money(line.unit_price, line.currency),
                    }
                    for line in lines
                ],
                "total": _money(sum(line.total for line in lines), currency) if lines else "",
                "required": list(job.required_proofs),
                "taken": taken,
                "missing": [k for k in job.required_proofs if k not in taken],
                "has_pin": bool(job.pin),
                "currency": currency,
                "lines_json": json.dumps([services.line_dict(line) for line in lines]),
                "pending_json": json.dumps(_pending(pending)) if pending else "",
                "accepted": [
                    f"Changed on site: {_money(c.total_before, c.currency)} → "
                    f"{_money(c.total_after, c.currency)}, accepted by the customer's "
                    f"{c.get_consent_display().lower()}"
                    for c in changes
                    if c.state == ChangeState.ACCEPTED
                ],
            }
        )
    return rows


def _pending(change: Any) -> dict[str, Any]:
    """A proposal waiting for the customer, as the page's script shows it."""
    return {
        "ref": change.ref,
        "after": change.after,
        "total_before": change.total_before,
        "total_after": change.total_after,
        "currency": change.currency,
    }


def _notes(job: Job) -> list[str]:
    """What the driver should know before the door: the job's own notes (when the job
    carries them), the customer's delivery notes, and what the case is about."""
    notes = []
    own = job.notes.strip()
    if own:
        notes.append(own)
    attrs = job.customer.attributes if isinstance(job.customer.attributes, dict) else {}
    for key in ("delivery_notes", "access_notes", "notes"):
        value = attrs.get(key)
        if isinstance(value, str) and value.strip():
            notes.append(value.strip()[:500])
    if job.case_id and job.case is not None:
        notes.append(f"Case {job.case.ref}: {job.case.subject}")
    return notes


@login_required
@require_GET
def driver_page(request: HttpRequest) -> HttpResponse:
    """Today's stops for the signed-in driver, with one tap per step and the proofs."""
    now = utcnow()
    day = _day_of(request, now)
    jobs = runs.run_stops(driver=request.user, day=day)
    return render(
        request,
        "jobs/driver.html",
        {
            **page_chrome(request, now),
            "day": day,
            "stops": stop_rows(jobs, now=now),
            "reasons": FailReason.choices,
            "proof_kinds": ProofKind.choices,
            "run_startable": runs.run_startable(stops=jobs, driver=request.user, day=day, now=now),
        },
    )


# --- the driver's writes -------------------------------------------------------------------


def _json_body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except ValueError:
        raise InvalidInput("the body is not JSON", [FieldError("body", "not JSON")]) from None
    if not isinstance(body, dict):
        raise InvalidInput("the body is a JSON object", [FieldError("body", "not an object")])
    return body


def _error(exc: DomainError) -> JsonResponse:
    return JsonResponse(json.loads(json.dumps(exc.as_dict(), default=str)), status=exc.status)


def _write(request: HttpRequest, job_id: int | None, run: Any) -> JsonResponse:
    """Run the driver's write ``run(job, viewer, now)`` once per ``Idempotency-Key``."""
    user: Any = request.user  # signed in: login_required
    now = utcnow()
    try:
        job = job_get(job_id=job_id, viewer=user) if job_id is not None else None
        if job is not None and job.assignee_id not in (None, user.pk):
            raise NotFound(f"job {job_id}")  # a teammate's stop: not on this driver's page
        body = _json_body(request)
        answer = idempotent(
            request, lambda: run(job, body, user, now), job_id=job.pk if job else None, user=user
        )
    except DomainError as exc:
        return _error(exc)
    return JsonResponse(answer.value, status=answer.status_code, safe=False)


def _job_answer(job: Job, user: Any) -> tuple[int, Any]:
    fresh = job_get(job_id=job.pk, viewer=user)
    return 200, {"job": job_out(fresh, show_pin=False)}


def _step(step: Any, **fixed: Any) -> Any:
    def run(job: Job, body: dict[str, Any], user: Any, now: datetime) -> tuple[int, Any]:
        step(job=job, actor=actor_of(user), now=now, **fixed)
        return _job_answer(job, user)

    return run


@login_required
@require_POST
def driver_start(request: HttpRequest, job_id: int) -> JsonResponse:
    return _write(request, job_id, _step(services.job_start))


@login_required
@require_POST
def driver_arrive(request: HttpRequest, job_id: int) -> JsonResponse:
    return _write(request, job_id, _step(services.job_arrive))


@login_required
@require_POST
def driver_complete(request: HttpRequest, job_id: int) -> JsonResponse:
    return _write(request, job_id, _step(services.job_complete))


def _fail(job: Job, body: dict[str, Any], user: Any, now: datetime) -> tuple[int, Any]:
    reason, note = body.get("reason"), body.get("note", "")
    if not isinstance(reason, str):
        raise InvalidInput(
            "why the job failed", [FieldError("reason", f"one of {', '.join(FailReason.values)}")]
        )
    if not isinstance(note, str):
        raise InvalidInput("the note is text", [FieldError("note", "text")])
    services.job_fail(job=job, reason=reason, note=note, actor=actor_of(user), now=now)
    return _job_answer(job, user)


@login_required
@require_POST
def driver_fail(request: HttpRequest, job_id: int) -> JsonResponse:
    return _write(request, job_id, _fail)


def _proof(job: Job, body: dict[str, Any], user: Any, now: datetime) -> tuple[int, Any]:
    kind, data = body.get("kind"), body.get("data")
    if not isinstance(kind, str):
        raise InvalidInput(
            "which proof", [FieldError("kind", f"one of {', '.join(ProofKind.values)}")]
        )
    if not isinstance(data, str):
        raise InvalidInput("the proof's data", [FieldError("data", "must not be empty")])
    proof = services.proof_add(job=job, kind=kind, data=data, actor=actor_of(user), now=now)
    return 201, proof_out(proof)


@login_required
@require_POST
def driver_proof(request: HttpRequest, job_id: int) -> JsonResponse:
    return _write(request, job_id, _proof)


def _change_answer(change: Any, job: Job, user: Any, status: int) -> tuple[int, Any]:
    fresh = job_get(job_id=job.pk, viewer=user)
    return status, {"change": change_out(change), "job": job_out(fresh, show_pin=False)}


def _propose(job: Job, body: dict[str, Any], user: Any, now: datetime) -> tuple[int, Any]:
    ref, ops, note = body.get("ref"), body.get("ops"), body.get("note", "")
    if ref is not None and not isinstance(ref, str):
        raise InvalidInput("the change's reference", [FieldError("ref", "text")])
    if not isinstance(ops, list):
        raise InvalidInput("what to change", [FieldError("ops", "a list of add, split, remove")])
    change = services.change_propose(
        job=job, ref=ref, ops=ops, note=note, actor=actor_of(user), now=now
    )
    return _change_answer(change, job, user, 201)


@login_required
@require_POST
def driver_change(request: HttpRequest, job_id: int) -> JsonResponse:
    """Propose a change of the work: shown to the customer, applied when they accept."""
    return _write(request, job_id, _propose)


def _accept(ref: str) -> Any:
    def run(job: Job, body: dict[str, Any], user: Any, now: datetime) -> tuple[int, Any]:
        via, data = body.get("via"), body.get("data")
        if not isinstance(via, str):
            raise InvalidInput("how the customer accepts", [FieldError("via", "signature or pin")])
        if not isinstance(data, str):
            raise InvalidInput("the consent's data", [FieldError("data", "must not be empty")])
        change = services.change_accept(
            job=job, ref=ref, via=via, data=data, actor=actor_of(user), now=now
        )
        return _change_answer(change, job, user, 200)

    return run


@login_required
@require_POST
def driver_change_accept(request: HttpRequest, job_id: int, ref: str) -> JsonResponse:
    """The customer accepts the change by signing on the page or reading their PIN."""
    return _write(request, job_id, _accept(ref))


def _decline(ref: str) -> Any:
    def run(job: Job, body: dict[str, Any], user: Any, now: datetime) -> tuple[int, Any]:
        reason = body.get("reason", "")
        if not isinstance(reason, str):
            raise InvalidInput("why", [FieldError("reason", "text")])
        change = services.change_decline(
            job=job, ref=ref, reason=reason, actor=actor_of(user), now=now
        )
        return _change_answer(change, job, user, 200)

    return run


@login_required
@require_POST
def driver_change_decline(request: HttpRequest, job_id: int, ref: str) -> JsonResponse:
    return _write(request, job_id, _decline(ref))


def _run_start(job: Job | None, body: dict[str, Any], user: Any, now: datetime) -> tuple[int, Any]:
    raw = body.get("date")
    try:
        day = (
            date.fromisoformat(raw)
            if isinstance(raw, str) and len(raw) == 10
            else runs.driver_today(driver=user, now=now)
        )
    except ValueError:
        raise InvalidInput("a day", [FieldError("date", "YYYY-MM-DD")]) from None
    started = runs.run_start(driver=user, day=day, actor=actor_of(user), now=now)
    return 200, started.as_dict()


@login_required
@require_POST
def driver_run_start(request: HttpRequest) -> JsonResponse:
    """The driver leaves: every customer on today's run is told, with an ETA."""
    return _write(request, None, _run_start)


SERVICE_WORKER = Path(__file__).parent / "static" / "jobs" / "driver-sw.js"


@require_GET
def driver_service_worker(request: HttpRequest) -> HttpResponse:
    """The driver's page's service worker, served under /jobs/driver/ so it may keep that
    page for offline use (a worker's scope is at most its own folder). Holds no data."""
    response = HttpResponse(SERVICE_WORKER.read_bytes(), content_type="text/javascript")
    response["Cache-Control"] = "no-cache"
    return response


# --- the customer's tracking page ----------------------------------------------------------


@require_GET
def tracking_page(request: HttpRequest, token: str) -> HttpResponse:
    """The customer's view of their job: window, status, ETA, and after delivery the proof.
    No login; an unknown token is a plain 404."""
    job = _tracked(token)
    zone = services.TeamZones()(job.team_id)
    proofs = [
        {
            "kind": p.get_kind_display(),
            "at": p.at.astimezone(zone),
            "image": p.data
            if p.kind in (ProofKind.SIGNATURE, ProofKind.PHOTO) and p.data.startswith("data:image/")
            else "",
            "alt": "Signature taken at the door"
            if p.kind == ProofKind.SIGNATURE
            else "Photo taken at the door",
            "photo": p.kind == ProofKind.PHOTO,
        }
        for p in job.proofs.all()
    ]
    done = job.state == JobState.COMPLETED
    return render(
        request,
        "jobs/tracking.html",
        {
            "job": job,
            "window": services.window_words(job.window_start, job.window_end, zone),
            "eta": job.eta.astimezone(zone) if job.eta else None,
            "completed_at": job.completed_at.astimezone(zone) if job.completed_at else None,
            "proofs": proofs if done else [],
            "zone": zone,
            "late": runs.is_late(job),
            "invoice": _invoice_shown(job) if done else None,
        },
    )


def _tracked(token: str) -> Job:
    """The job a tracking token names; any other token is a plain 404."""
    job = (
        Job.objects.select_related("team", "customer")
        .prefetch_related("proofs")
        .filter(tracking_token=token)
        .first()
        if 0 < len(token) <= 64
        else None
    )
    if job is None:
        raise Http404("no such tracking link")
    return job


def _invoice_shown(job: Job) -> dict[str, Any] | None:
    """The job's invoice as the tracking page tells it: number, total, and whether (and
    when) it is paid or voided, read from the invoice itself (the job keeps only what was
    issued)."""
    invoice = job.invoice if isinstance(job.invoice, dict) else None
    if not invoice or not isinstance(invoice.get("id"), int):
        return None
    try:
        found = invoice_get(invoice_id=invoice["id"], viewer=SYSTEM)
    except NotFound:
        found = None
    return {
        "number": invoice.get("number", ""),
        "total": _money(int(invoice.get("total") or 0), str(invoice.get("currency") or "")),
        "state": found.state if found is not None else "",
        "paid_at": found.paid_at if found is not None else None,
    }


@require_GET
def tracking_invoice(request: HttpRequest, token: str) -> HttpResponse:
    """The invoice of the tracked job as a PDF, for the customer holding the tracking link:
    only once the job is completed, only that job's invoice; otherwise a plain 404."""
    job = _tracked(token)
    invoice = job.invoice if isinstance(job.invoice, dict) else None
    if job.state != JobState.COMPLETED or not invoice or not isinstance(invoice.get("id"), int):
        raise Http404("no invoice for this job")
    try:
        found = invoice_get(invoice_id=invoice["id"], viewer=SYSTEM)
    except NotFound:
        raise Http404("no invoice for this job") from None
    response = HttpResponse(invoice_pdf(found), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="invoice-{found.number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response
