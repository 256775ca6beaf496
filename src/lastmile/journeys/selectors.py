"""Reads of journeys, scoped to a viewer (a ``User``, or ``SYSTEM``, which sees everything).

An agent sees a journey when they may see its case (which includes a case on which one of
their teams owns a step). The customer's view (``journeys_for_customer``) shows only the
steps marked visible to the customer, never notes written for the next team.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from lastmile.cases.selectors import cases_visible
from lastmile.core.errors import NotFound
from lastmile.journeys.models import (
    CustomerAction,
    Journey,
    JourneyState,
    JourneyStep,
    JourneyTemplate,
    StepState,
)
from lastmile.loops.selectors import loop_sla_state
from lastmile.people.models import Team
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import Viewer, viewer_check


def templates_active() -> QuerySet[JourneyTemplate]:
    return JourneyTemplate.objects.filter(active=True).order_by("name")


def template_list() -> QuerySet[JourneyTemplate]:
    return JourneyTemplate.objects.prefetch_related("steps__team").order_by("name")


def template_get(*, slug: str) -> JourneyTemplate:
    template = JourneyTemplate.objects.filter(slug=slug).first()
    if template is None:
        raise NotFound(f"journey template {slug}")
    return template


def _with_steps(qs: QuerySet[Journey]) -> QuerySet[Journey]:
    return qs.select_related(
        "template", "case__customer", "case__team", "started_by"
    ).prefetch_related(
        Prefetch(
            "steps",
            queryset=JourneyStep.objects.select_related("team", "loop", "completed_by").order_by(
                "position", "id"
            ),
        )
    )


def journeys_visible(*, viewer: Viewer) -> QuerySet[Journey]:
    """Journeys on cases the viewer sees, and journeys with a step for one of their teams
    (a team sees the work coming its way before its step opens)."""
    qs = _with_steps(Journey.objects.all())
    teams = visible_team_ids(viewer)
    if teams is None:
        return qs
    return qs.filter(
        Q(case__in=cases_visible(viewer=viewer).values("pk"))
        | Q(pk__in=JourneyStep.objects.filter(team_id__in=teams).values("journey_id"))
    )


def journey_get(*, journey_id: int, viewer: Viewer) -> Journey:
    """The journey if ``viewer`` may see its case; otherwise 404, the same as missing."""
    journey = (
        journeys_visible(viewer=viewer).filter(pk=journey_id).first()
        if 0 < journey_id < 2**63
        else None
    )
    if journey is None:
        raise NotFound(f"journey {journey_id}")
    return journey


def journey_step_get(*, journey: Journey, key: str) -> JourneyStep:
    for step in journey.steps.all():
        if step.key == key:
            return step
    raise NotFound(f"step {key} of journey {journey.pk}")


def journey_list(
    *, viewer: Viewer, state: str | None = None, case: Any = None, template: str | None = None
) -> QuerySet[Journey]:
    qs = journeys_visible(viewer=viewer)
    if state:
        qs = qs.filter(state=state)
    if case is not None:
        qs = qs.filter(case=case)
    if template:
        qs = qs.filter(template__slug=template)
    return qs.order_by("-started_at", "-id")


def journeys_for_case(*, case: Any) -> list[Journey]:
    """Every journey on the case, newest first, with its steps (the caller showed the case)."""
    return list(_with_steps(Journey.objects.filter(case=case)).order_by("-started_at", "-id"))


# --- the console's board ---------------------------------------------------------------------


@dataclass
class BoardStep:
    step: JourneyStep
    journey: Journey
    sla: str
    case_visible: bool = True  # the viewer may open the case page
    blocks: list[JourneyStep] = field(default_factory=list)  # steps waiting for this one
    waiting_for: list[JourneyStep] = field(default_factory=list)  # unfinished steps before it


@dataclass
class TeamBoard:
    team: Team
    open: list[BoardStep]
    waiting: list[BoardStep]


def journeys_board(*, viewer: Viewer, now: datetime) -> list[TeamBoard]:
    """Active journeys by team: each team's open steps (and whom they block) and its steps
    still waiting on other steps — where a cross-team journey is stuck, and on whom."""
    journeys = list(journeys_visible(viewer=viewer).filter(state=JourneyState.ACTIVE))
    teams = visible_team_ids(viewer)
    seen_cases = set(
        cases_visible(viewer=viewer)
        .filter(pk__in=[j.case_id for j in journeys])
        .values_list("pk", flat=True)
    )
    open_by: dict[int, list[BoardStep]] = defaultdict(list)
    waiting_by: dict[int, list[BoardStep]] = defaultdict(list)
    for journey in journeys:
        steps = list(journey.steps.all())
        by_key = {s.key: s for s in steps}
        for s in steps:
            if s.team_id is None or (teams is not None and s.team_id not in teams):
                continue
            if s.state == StepState.OPEN:
                row = BoardStep(
                    step=s,
                    journey=journey,
                    case_visible=journey.case_id in seen_cases,
                    sla=loop_sla_state(s.loop, now=now) if s.loop is not None else "none",
                    blocks=[t for t in steps if s.key in (t.depends_on or [])],
                )
                open_by[s.team_id].append(row)
            elif s.state == StepState.PENDING:
                before = [by_key[d] for d in s.depends_on or [] if d in by_key]
                row = BoardStep(
                    step=s,
                    journey=journey,
                    case_visible=journey.case_id in seen_cases,
                    sla="none",
                    waiting_for=[b for b in before if b.state != StepState.DONE],
                )
                waiting_by[s.team_id].append(row)
    ids = set(open_by) | set(waiting_by)
    boards = []
    for team in Team.objects.filter(pk__in=ids).order_by("name"):
        rows = sorted(open_by.get(team.pk, []), key=_urgency)
        boards.append(TeamBoard(team=team, open=rows, waiting=waiting_by.get(team.pk, [])))
    return boards


def _urgency(row: BoardStep) -> tuple[bool, datetime]:
    """Earliest deadline first; steps with no deadline last, oldest first."""
    due = row.step.loop.due_at if row.step.loop is not None else None
    return (due is None, due or row.step.opened_at or row.journey.started_at)


# --- the customer's view (for the portal) ----------------------------------------------------


@dataclass
class CustomerStep:
    """A step as the customer may see it: no internal notes, owner by team name only."""

    key: str
    title: str
    state: str  # pending / open / done / cancelled
    owner: str  # "you" for the customer's own steps, else the owning team's name
    customer_performs: bool
    customer_action: str  # none / upload / choose_slot / confirm
    instructions: str
    due_at: datetime | None
    completed_at: datetime | None
    can_act: bool  # the customer can do it now (step_complete_by_customer)
    data: dict[str, Any]
    step: JourneyStep  # for step_complete_by_customer


@dataclass
class CustomerJourney:
    id: int
    name: str
    state: str
    case_ref: str
    started_at: datetime
    completed_at: datetime | None
    steps: list[CustomerStep]


def journeys_for_customer(
    *, customer: Any, include_finished: bool = True, case: Any = None, limit: int | None = None
) -> list[CustomerJourney]:
    """The customer's journeys (on ``case`` only, if given), newest first (at most
    ``limit``), with only the steps visible to them.

    Journeys hang off cases, so a customer who absorbed another (a merge) sees those too.
    """
    qs = _with_steps(Journey.objects.filter(case__customer=customer)).order_by("-started_at", "-id")
    if not include_finished:
        qs = qs.filter(state=JourneyState.ACTIVE)
    if case is not None:
        qs = qs.filter(case=case)
    out = []
    for journey in qs[:limit] if limit is not None else qs:
        steps = [
            CustomerStep(
                key=s.key,
                title=s.title,
                state=s.state,
                owner="you" if s.customer_performs else (s.team.name if s.team else ""),
                customer_performs=s.customer_performs,
                customer_action=s.customer_action,
                instructions=s.instructions,
                due_at=s.loop.due_at if s.loop is not None and s.state == StepState.OPEN else None,
                completed_at=s.completed_at,
                can_act=s.customer_performs and s.state == StepState.OPEN,
                data=dict(s.data or {}) if s.customer_performs else {},
                step=s,
            )
            for s in journey.steps.all()
            if s.customer_visible
        ]
        out.append(
            CustomerJourney(
                id=journey.pk,
                name=journey.name,
                state=journey.state,
                case_ref=journey.case.ref,
                started_at=journey.started_at,
                completed_at=journey.completed_at,
                steps=steps,
            )
        )
    return out


def customer_step_get(*, customer: Any, journey_id: int, key: str) -> JourneyStep:
    """A step the customer may see, for the portal to act on; 404 for anything else."""
    step = (
        JourneyStep.objects.select_related("journey__case", "team", "loop")
        .filter(
            journey_id=journey_id,
            key=key,
            customer_visible=True,
            journey__case__customer=customer,
        )
        .first()
        if 0 < journey_id < 2**63
        else None
    )
    if step is None:
        raise NotFound(f"step {key}")
    return step


# --- the case page's panel -------------------------------------------------------------------


@dataclass
class StepRow:
    step: JourneyStep
    sla: str  # the loop's SLA state while open, else the step's state
    can_complete: bool
    needs_note: bool  # other steps wait for it: the note is the hand-off
    waiting_for: list[JourneyStep]
    # A choose_slot step: the windows offered and the one chosen, in the step's time zone.
    windows: list[str] = field(default_factory=list)
    chosen_window: str = ""
    zone: str = ""
    can_offer: bool = False


def _slot_facts(step: JourneyStep, *, can_offer: bool) -> dict[str, Any]:
    from lastmile.journeys.services import slot_zone, step_windows, window_words

    chosen = ""
    if step.slot_starts_at is not None and step.slot_ends_at is not None:
        chosen = window_words(step, step.slot_starts_at, step.slot_ends_at)
    return {
        "windows": [window_words(step, a, b) for a, b in step_windows(step)],
        "chosen_window": chosen,
        "zone": str(slot_zone(step)),
        "can_offer": can_offer and step.state in (StepState.PENDING, StepState.OPEN),
    }


@dataclass
class JourneyView:
    journey: Journey
    steps: list[StepRow]
    done: int
    can_cancel: bool


@dataclass
class JourneyPanel:
    journeys: list[JourneyView]
    templates: list[JourneyTemplate]  # those that can be started on the case now


_UNKNOWN: Any = object()


def case_journey_panel(
    *, case: Any, viewer: Viewer, now: datetime, team_ids: set[int] | None = _UNKNOWN
) -> JourneyPanel:
    """The journeys of a case for an agent who may see it: what each step waits for, which
    steps the viewer's teams can complete, and which templates can still be started.

    ``team_ids``: the viewer's ``visible_team_ids`` when the caller has them already.
    """
    viewer_check(viewer)  # also when the caller knows the teams: None is no viewer
    teams = visible_team_ids(viewer) if team_ids is _UNKNOWN else team_ids
    journeys = journeys_for_case(case=case)
    views = []
    for journey in journeys:
        steps = list(journey.steps.all())
        by_key = {s.key: s for s in steps}
        rows = []
        for s in steps:
            mine = teams is None or s.team_id in teams
            slot: dict[str, Any] = {}
            if s.customer_action == CustomerAction.CHOOSE_SLOT:
                slot = _slot_facts(s, can_offer=mine and journey.is_active)
            rows.append(
                StepRow(
                    **slot,
                    step=s,
                    sla=loop_sla_state(s.loop, now=now)
                    if s.state == StepState.OPEN and s.loop is not None
                    else s.state,
                    can_complete=s.state == StepState.OPEN and mine and journey.is_active,
                    needs_note=any(s.key in (t.depends_on or []) for t in steps),
                    waiting_for=[
                        by_key[d]
                        for d in s.depends_on or []
                        if d in by_key and by_key[d].state != StepState.DONE
                    ]
                    if s.state == StepState.PENDING
                    else [],
                )
            )
        views.append(
            JourneyView(
                journey=journey,
                steps=rows,
                done=sum(1 for s in steps if s.state == StepState.DONE),
                can_cancel=journey.is_active and (teams is None or case.team_id in teams),
            )
        )
    running = {j.template_id for j in journeys if j.is_active}
    closed = case.status in ("solved", "closed")
    templates = [] if closed else [t for t in templates_active() if t.pk not in running]
    return JourneyPanel(journeys=views, templates=templates)
