"""Reads of jobs and slots, scoped to a viewer: an agent sees their teams' jobs and slots,
an admin or ``SYSTEM`` (an integration token) every team's; not visible is the same 404 as
missing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from lastmile.core.errors import NotFound
from lastmile.invoices.selectors import CaseJob
from lastmile.jobs.models import BOOKED_STATES, Job, JobChange, JobKind, Proof, Slot
from lastmile.people.models import Team
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import Viewer


def jobs_visible(*, viewer: Viewer) -> QuerySet[Job]:
    """The jobs of the viewer's teams (every job for an admin or ``SYSTEM``), with what a
    job's answer shows, in the order a day is worked: window, stop, id."""
    qs = Job.objects.select_related("team", "customer", "case", "assignee").prefetch_related(
        "lines", Prefetch("proofs", queryset=Proof.objects.order_by("at", "id"))
    )
    teams = visible_team_ids(viewer)
    if teams is not None:
        qs = qs.filter(team_id__in=teams)
    return qs.order_by("window_start", "stop_order", "id")


def job_get(*, job_id: int, viewer: Viewer) -> Job:
    """The job ``job_id`` if ``viewer`` may see it; otherwise 404, the same as missing."""
    job = jobs_visible(viewer=viewer).filter(pk=job_id).first() if 0 < job_id < 2**63 else None
    if job is None:
        raise NotFound(f"job {job_id}")
    return job


def changes_of(*, job: Job) -> list[JobChange]:
    """The changes proposed on site for ``job`` (a job the caller got through ``job_get``),
    oldest first, with who proposed and decided."""
    return list(
        JobChange.objects.filter(job=job)
        .select_related("proposed_by", "decided_by")
        .order_by("proposed_at", "id")
    )


def _day(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def job_list(
    *, viewer: Viewer, day: date | None = None, team: Team | None = None, state: str | None = None
) -> QuerySet[Job]:
    """The viewer's jobs, filtered: whose window starts on ``day`` (UTC), of ``team``, in
    ``state``."""
    qs = jobs_visible(viewer=viewer)
    if day is not None:
        start, end = _day(day)
        qs = qs.filter(window_start__gte=start, window_start__lt=end)
    if team is not None:
        qs = qs.filter(team=team)
    if state is not None:
        qs = qs.filter(state=state)
    return qs


def team_visible(*, team: Team, viewer: Viewer) -> bool:
    teams = visible_team_ids(viewer)
    return teams is None or team.pk in teams


@dataclass(frozen=True)
class SlotFree:
    """A slot with its bookings counted and whether it still takes one at ``now``."""

    slot: Slot
    booked: int
    bookable: bool

    @property
    def free(self) -> int:
        return max(0, self.slot.capacity - self.booked)


def slots_free(*, viewer: Viewer, team: Team, day: date, now: datetime) -> list[SlotFree]:
    """``team``'s slots starting on ``day`` (UTC), each with its bookings (one query) and
    whether it is still bookable (not begun, before its cut-off, a place free). A team the
    viewer may not see is a 404."""
    if not team_visible(team=team, viewer=viewer):
        raise NotFound(f"team {team.slug}")
    start, end = _day(day)
    return _slots_free(
        Slot.objects.filter(team=team, starts_at__gte=start, starts_at__lt=end), now=now
    )


def _slots_free(slots: QuerySet[Slot], *, now: datetime) -> list[SlotFree]:
    """``slots`` in time order, each with its bookings counted (one query) and whether it
    still takes one at ``now``: not begun, before its cut-off, a place free."""
    rows = slots.annotate(booked=Count("jobs", filter=Q(jobs__state__in=BOOKED_STATES)))
    out = []
    for slot in rows.order_by("starts_at", "ends_at", "id"):
        booked = slot.booked  # type: ignore[attr-defined]
        cutoff = slot.starts_at - timedelta(minutes=slot.cutoff_minutes)
        out.append(
            SlotFree(slot=slot, booked=booked, bookable=now < cutoff and booked < slot.capacity)
        )
    return out


# How many of a customer's jobs the portal lists, and how far ahead it offers slots.
CUSTOMER_JOBS_SHOWN = 20
OFFER_DAYS = 14


def jobs_of_customer(
    *, customer: Any, now: datetime, limit: int = CUSTOMER_JOBS_SHOWN
) -> list[Job]:
    """The customer's own jobs for the portal: those whose window has not ended, soonest
    first, then the others, newest first (``limit`` of each at most). Not scoped to a
    viewer: the caller is the customer's own session."""
    qs = Job.objects.select_related("team").filter(customer=customer)
    coming = qs.filter(window_end__gte=now).order_by("window_start", "id")[:limit]
    past = qs.filter(window_end__lt=now).order_by("-window_start", "-id")[:limit]
    return [*coming, *past]


def job_of_customer(*, customer: Any, job_id: int) -> Job:
    """One of the customer's jobs; another's, or none, is the same 404."""
    job = (
        Job.objects.select_related("team", "case")
        .prefetch_related("lines")
        .filter(customer=customer, pk=job_id)
        .first()
        if 0 < job_id < 2**63
        else None
    )
    if job is None:
        raise NotFound(f"job {job_id}")
    return job


def slots_offered(*, job: Job, now: datetime, days: int = OFFER_DAYS) -> list[SlotFree]:
    """The slots of the job's team the customer may move it to (or book its re-attempt in):
    starting within ``days``, still bookable at ``now`` (not begun, before the cut-off, a
    place free), the job's own slot left out."""
    ahead = Slot.objects.filter(
        team_id=job.team_id, starts_at__gt=now, starts_at__lt=now + timedelta(days=days)
    ).exclude(pk=job.slot_id)
    return [s for s in _slots_free(ahead, now=now) if s.bookable]


CASE_JOBS_SHOWN = 50


def jobs_of_case(*, case: Any, viewer: Viewer) -> list[CaseJob]:
    """The case's jobs the viewer may see, as the case page's billing panel shows them
    (registered for ``case.jobs`` in ``JobsConfig.ready``)."""
    from django.urls import reverse

    from lastmile.jobs.services import tracking_url

    return [
        CaseJob(
            id=job.pk,
            label=f"{JobKind(job.kind).label} #{job.pk}",
            state=job.state,
            state_label=job.get_state_display(),
            window_start=job.window_start,
            window_end=job.window_end,
            team=job.team.name,
            url=reverse("admin:jobs_job_change", args=[job.pk]),
            tracking_url=tracking_url(job),
            invoice_number=(job.invoice or {}).get("number", ""),
        )
        for job in jobs_visible(viewer=viewer)
        .filter(case_id=case.pk)
        .select_related("team")
        .order_by("window_start", "pk")[:CASE_JOBS_SHOWN]
    ]
