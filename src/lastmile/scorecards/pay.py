"""Variable pay: each agent's monthly statement from their team's pay plan.

The figures are the scorecards' own (``selectors.scorecards``, computed as ``SYSTEM`` so that
the agent, their lead and payroll read the same numbers whoever asks); this module only turns
them into points.

The points of one metric (``metric_points``), with ``r`` the ratio of the value to the
target (target / value when lower is better, e.g. breaches):

- up to the target, in proportion: ``weight * r`` (half the target, half the weight);
- past it, diminishing returns: ``weight * (1 + 0.5 * (1 - exp(-(r - 1))))``, which never
  reaches 1.5 * weight however far the metric is pushed;
- never more than the metric's ``cap``, and no figure (no CSAT answer, no QA review) is 0.

The month's metric points are summed and capped at the plan's ``overall_cap``; if the plan has
a quality gate and the QA score is under it (or there is none), they are 0. So they are if
the plan has a practice gate the agent is below at the month's end: their team's onboarding
path not complete, or fewer than N practice cases scored at or above the target (the
practice figures come from the training app, which registers ``practice_source_register``
from its ``AppConfig.ready``: the scorecards cannot import the apps built on them).
Adjustments are added after the cap (a lead's decision, with its reason), and the total is
never below 0.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet

from lastmile.core.errors import Conflict, FieldError, InvalidInput, NotFound, PermissionDenied
from lastmile.people.models import Agent, Role, Team
from lastmile.people.selectors import agent_for
from lastmile.people.viewers import SYSTEM, Viewer, viewer_check
from lastmile.scorecards.models import (
    ADJUSTMENT_LIMIT,
    MONTH_PATTERN,
    DisputeState,
    PayAdjustment,
    PayDispute,
    PayMetric,
    PayPlan,
    PayPlanMetric,
    PracticeGate,
)
from lastmile.scorecards.selectors import Period, Scorecard, period_parse, scope_of, scorecards

BONUS_SHARE = 0.5  # past the target a metric can earn at most this share of its weight more
CENT = Decimal("0.01")
REASON_MAX = 2000

# --- the maths: pure functions, no ORM -------------------------------------------------------


def metric_ratio(value: float | None, target: float, *, higher_is_better: bool = True) -> float:
    """How far ``value`` is toward ``target``: 1 at the target, 0 for nothing (a negative NPS
    included), ``inf`` for a lower-is-better metric at 0. No value: 0."""
    if value is None:
        return 0.0
    if target <= 0:
        raise ValueError("a target is above 0")
    if higher_is_better:
        return max(0.0, value / target)
    if value <= 0:
        return math.inf
    return target / value


def metric_points(
    value: float | None,
    *,
    target: float,
    weight: float,
    cap: float,
    higher_is_better: bool = True,
) -> float:
    """The points one metric pays (the module's docstring has the rule): monotone in the
    value, concave past the target, at most ``cap`` and at most 1.5 × ``weight``."""
    r = metric_ratio(value, target, higher_is_better=higher_is_better)
    points = weight * min(1.0, r)
    if r > 1:
        points += weight * BONUS_SHARE * (1 - math.exp(-(r - 1)))
    return min(cap, points)


def plan_total(points: list[float], *, overall_cap: float, gate_passed: bool) -> float:
    """The month's metric points: their sum capped at ``overall_cap``; 0 if the gate failed."""
    if not gate_passed:
        return 0.0
    return min(overall_cap, sum(points))


def gate_passes(qa_score: float | None, minimum: float | None) -> bool:
    """No gate passes; with one, a QA score at or above it does (no review: not passed)."""
    if minimum is None:
        return True
    return qa_score is not None and qa_score >= minimum


@dataclass(frozen=True)
class PracticeStanding:
    """An agent's practice at a moment: the steps of their teams' onboarding paths scored,
    of all the steps, and the practice cases whose best attempt scored at or above a target."""

    path_done: int = 0
    path_total: int = 0
    cases_at_target: int = 0


# (user ids, the moment, the QA target) -> each user's standing; the training app's.
PracticeSource = Callable[..., dict[int, PracticeStanding]]
_practice_source: list[PracticeSource] = []


def practice_source_register(source: PracticeSource) -> None:
    """Where the practice gate reads practice: ``source(user_ids, until=, target=)``."""
    _practice_source[:] = [source]


def practice_standings(
    user_ids: list[int], *, until: datetime, target: float | None
) -> dict[int, PracticeStanding]:
    """Each user's ``PracticeStanding`` at ``until`` (nothing done when no source is
    registered: a plan with a practice gate then pays nobody, and says why)."""
    if not _practice_source:
        return {uid: PracticeStanding() for uid in user_ids}
    return _practice_source[0](user_ids, until=until, target=target)


def practice_gate_passes(
    gate: str, standing: PracticeStanding, *, cases_needed: int | None
) -> bool:
    """No practice gate passes. The path gate: every step of the agent's teams' paths scored
    (a team without a path has nothing to complete). The cases gate: at least
    ``cases_needed`` practice cases scored at or above the plan's target."""
    if gate == PracticeGate.PATH:
        return standing.path_done >= standing.path_total
    if gate == PracticeGate.CASES:
        return standing.cases_at_target >= (cases_needed or 1)
    return True


def _practice_explain(plan: PayPlan, standing: PracticeStanding, passed: bool, end: str) -> str:
    """The practice gate's sentence ("" for a plan without one)."""
    verdict = "passed." if passed else "the metrics pay nothing."
    if plan.practice_gate == PracticeGate.PATH:
        if not standing.path_total:
            return "Practice gate: no onboarding path to complete in your team: passed."
        return (
            f"Practice gate: onboarding path {standing.path_done} of {standing.path_total} "
            f"steps scored by {end}, all {standing.path_total} needed: {verdict}"
        )
    if plan.practice_gate == PracticeGate.CASES:
        n = standing.cases_at_target
        need = plan.practice_cases or 1
        cases = "practice case" if n == 1 else "practice cases"
        return (
            f"Practice gate: {n} {cases} scored at or above {_num(plan.practice_target or 0)} "
            f"by {end}, {need} needed: {verdict}"
        )
    return ""


def _cents(x: float | Decimal) -> Decimal:
    return Decimal(str(x)).quantize(CENT, rounding=ROUND_HALF_UP)


def _num(x: float | Decimal) -> str:
    """12, 12.5, 12.25: no trailing zeros."""
    text = f"{float(x):.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _pts(x: Decimal) -> str:
    """Points as the statement shows them: 10.0, 7.5, 7.56."""
    text = f"{x:.2f}"
    return text[:-1] if text.endswith("0") else text


UNITS: dict[str, str] = {
    PayMetric.ON_TIME_RATE: "rate",
    PayMetric.CSAT: "percent",
    PayMetric.NPS: "signed",
    PayMetric.QA_SCORE: "score",
    PayMetric.FIRST_REPLY: "minutes",
}

NO_FIGURE: dict[str, str] = {
    PayMetric.ON_TIME_RATE: "no loop with a deadline was closed",
    PayMetric.CSAT: "no CSAT answer",
    PayMetric.NPS: "no NPS answer",
    PayMetric.QA_SCORE: "no QA review",
    PayMetric.FIRST_REPLY: "no first reply",
}


def format_value(metric: str, value: float) -> str:
    """A metric's value in words' units: 92 %, 82.5, +40, 12 business minutes, 7."""
    unit = UNITS.get(metric)
    if unit == "rate":
        return f"{_num(value * 100)} %"
    if unit == "percent":
        return f"{_num(value)} %"
    if unit == "signed":
        return f"{'+' if value > 0 else ''}{_num(value)}"
    if unit == "minutes":
        return f"{_num(value)} business minutes"
    return _num(value)


def line_explain(
    metric: str,
    value: float | None,
    *,
    target: float,
    cap: Decimal,
    points: Decimal,
    capped: bool,
    higher_is_better: bool,
) -> str:
    """One line in plain words: "On-time rate 92 % against a target of 90 %: 10.0 of 10
    points (capped)"."""
    label = PayMetric(metric).label
    if value is None:
        why = NO_FIGURE.get(metric, "no figure")
        return f"{label}: {why} this month: {_pts(points)} of {_num(cap)} points"
    goal = ("" if higher_is_better else "at most ") + format_value(metric, target)
    text = (
        f"{label} {format_value(metric, value)} against a target of {goal}: "
        f"{_pts(points)} of {_num(cap)} points"
    )
    return text + " (capped)" if capped else text


# --- months -----------------------------------------------------------------------------------


def pay_month_parse(text: str | None, *, now: datetime, field_name: str = "month") -> Period:
    """The month ``text`` names (2026-11; none: the month of ``now``); InvalidInput (422)
    naming ``field_name`` for anything else."""
    if text is None or not text.strip():
        text = f"{now.astimezone(UTC):%Y-%m}"
    text = text.strip()
    reason = "a month as YYYY-MM, e.g. 2026-11"
    if not re.match(MONTH_PATTERN, text):
        raise InvalidInput(f"bad {field_name}: {reason}", [FieldError(field_name, reason)])
    try:
        return period_parse(text, now=now)
    except InvalidInput as exc:
        reasons = [e.reason for e in exc.errors] or [reason]
        raise InvalidInput(
            f"bad {field_name}: {reasons[0]}", [FieldError(field_name, reasons[0])]
        ) from None


# --- statements -------------------------------------------------------------------------------


@dataclass
class PayLine:
    metric: str
    label: str
    value: float | None
    target: float
    higher_is_better: bool
    weight: Decimal
    cap: Decimal
    points: Decimal
    capped: bool
    explanation: str


@dataclass
class PayStatement:
    """One agent's month: each metric's line, the gate, the capped total, the adjustments."""

    month: str
    agent: str
    name: str
    team: str
    plan: str
    lines: list[PayLine]
    gate_minimum: float | None
    qa_score: float | None
    gate_passed: bool
    gate_explanation: str
    metrics_points: Decimal
    overall_cap: Decimal
    metrics_total: Decimal
    metrics_explanation: str
    adjustments: list[PayAdjustment]
    adjustments_total: Decimal
    total: Decimal
    explanation: list[str] = field(default_factory=list)
    disputes_open: int = 0
    practice_gate: str = ""  # PracticeGate: "" none, "path", "cases"
    practice_passed: bool = True
    practice_explanation: str = ""
    practice: PracticeStanding = field(default_factory=PracticeStanding)
    practice_cases_needed: int | None = None
    team_name: str = ""  # the team's name, for people; ``team`` is its slug
    practice_target: float | None = None


def _gate_explain(minimum: float | None, qa: float | None, passed: bool) -> str:
    if minimum is None:
        return "No quality gate in this plan."
    need = f"at least {_num(minimum)} needed"
    if qa is None:
        return f"Quality gate: no QA review this month, {need}: the metrics pay nothing."
    if passed:
        return f"Quality gate: QA score {_num(qa)}, {need}: passed."
    return f"Quality gate: QA score {_num(qa)}, {need}: the metrics pay nothing."


def statement_build(
    *,
    month: str,
    card: Scorecard,
    plan: PayPlan,
    metrics: list[PayPlanMetric],
    adjustments: list[PayAdjustment],
    practice: PracticeStanding | None = None,
    month_end: str = "the month's end",
) -> PayStatement:
    """The statement of ``card``'s agent under ``plan`` (no reads: everything is given;
    ``practice`` is the agent's standing at the month's end, needed with a practice gate)."""
    values = card.metrics
    lines = []
    for m in metrics:
        value = values.get(m.metric)
        raw = metric_points(
            value,
            target=m.target,
            weight=float(m.weight),
            cap=math.inf,
            higher_is_better=m.higher_is_better,
        )
        capped = raw > float(m.cap)
        points = _cents(min(raw, float(m.cap)))
        lines.append(
            PayLine(
                metric=m.metric,
                label=PayMetric(m.metric).label,
                value=value,
                target=m.target,
                higher_is_better=m.higher_is_better,
                weight=m.weight,
                cap=m.cap,
                points=points,
                capped=capped,
                explanation=line_explain(
                    m.metric,
                    value,
                    target=m.target,
                    cap=m.cap,
                    points=points,
                    capped=capped,
                    higher_is_better=m.higher_is_better,
                ),
            )
        )
    qa = values.get("qa_score")
    passed = gate_passes(qa, plan.min_quality_gate)
    standing = practice or PracticeStanding()
    practiced = practice_gate_passes(plan.practice_gate, standing, cases_needed=plan.practice_cases)
    summed = sum((line.points for line in lines), Decimal("0.00"))
    total = _cents(
        plan_total(
            [float(summed)], overall_cap=float(plan.overall_cap), gate_passed=passed and practiced
        )
    )
    if not (passed and practiced):
        gates = (
            "quality gate"
            if practiced
            else "practice gate"
            if passed
            else "quality and practice gates"
        )
        metrics_text = f"Metrics: {_pts(summed)} points, not paid ({gates}): 0.0 points."
    elif summed > plan.overall_cap:
        metrics_text = (
            f"Metrics: {_pts(summed)} points, capped at {_num(plan.overall_cap)} overall: "
            f"{_pts(total)} points."
        )
    else:
        metrics_text = f"Metrics: {_pts(total)} of at most {_num(plan.overall_cap)} points."
    adjusted = sum((a.points for a in adjustments), Decimal("0.00"))
    grand = max(Decimal("0.00"), total + adjusted)
    explanation = [line.explanation for line in lines]
    explanation.append(_gate_explain(plan.min_quality_gate, qa, passed))
    practice_text = _practice_explain(plan, standing, practiced, month_end)
    if practice_text:
        explanation.append(practice_text)
    explanation.append(metrics_text)
    for a in adjustments:
        explanation.append(
            f"Adjustment by {a.created_by.username} on {a.created_at:%Y-%m-%d}: "
            f"{a.points:+.2f} points ({a.reason})."
        )
    floor = " (never below 0)" if total + adjusted < 0 else ""
    explanation.append(f"Total: {_pts(grand)} points{floor}.")
    return PayStatement(
        month=month,
        agent=card.key,
        name=card.name,
        team=plan.team.slug,
        team_name=plan.team.name,
        plan=plan.name,
        lines=lines,
        gate_minimum=plan.min_quality_gate,
        qa_score=qa,
        gate_passed=passed,
        gate_explanation=_gate_explain(plan.min_quality_gate, qa, passed),
        metrics_points=summed,
        overall_cap=plan.overall_cap,
        metrics_total=total,
        metrics_explanation=metrics_text,
        adjustments=adjustments,
        adjustments_total=adjusted,
        total=grand,
        explanation=explanation,
        practice_gate=plan.practice_gate,
        practice_passed=practiced,
        practice_explanation=practice_text,
        practice=standing,
        practice_cases_needed=plan.practice_cases,
        practice_target=plan.practice_target,
    )


def _plans_by_team() -> dict[int, PayPlan]:
    plans = PayPlan.objects.filter(active=True).select_related("team").prefetch_related("metrics")
    return {p.team_id: p for p in plans}


def _plan_of(agent: Agent, plans: dict[int, PayPlan]) -> PayPlan | None:
    """The active plan of the agent's first team by name that has one."""
    for t in sorted(agent.teams.all(), key=lambda t: t.name):
        if t.pk in plans:
            return plans[t.pk]
    return None


def pay_statements(
    *,
    viewer: Viewer,
    period: Period,
    team: Team | None = None,
    agent: User | None = None,
) -> list[PayStatement]:
    """The statements ``viewer`` may read for the month ``period``, by agent's username:
    an agent their own; a lead their teams' agents; an admin and ``SYSTEM`` everyone's.
    Narrowed to ``team``'s agents and/or ``agent`` (NotFound when not visible). Only agents
    with a plan (an active plan of one of their teams) have a statement."""
    scope = scope_of(viewer)
    if team is not None and scope.named is not None and team.pk not in scope.named:
        raise NotFound(f"team {team.slug}")
    if agent is not None and scope.agents is not None and agent.pk not in scope.agents:
        raise NotFound(f"agent {agent.username}")
    plans = _plans_by_team()
    if not plans:
        return []
    qs = (
        Agent.objects.filter(teams__in=list(plans))
        .distinct()
        .select_related("user")
        .prefetch_related("teams")
    )
    if scope.agents is not None:
        qs = qs.filter(user_id__in=scope.agents)
    if team is not None:
        qs = qs.filter(teams=team)
    if agent is not None:
        qs = qs.filter(user_id=agent.pk)
    people = [(a, _plan_of(a, plans)) for a in qs.order_by("user__username")]
    if not people:
        return []
    cards = _cards(period, [a for a, _ in people], team=team, scope_teams=scope.named)
    adjustments: dict[int, list[PayAdjustment]] = {}
    for adj in (
        PayAdjustment.objects.filter(month=period.key, agent_id__in=[a.user_id for a, _ in people])
        .select_related("created_by")
        .order_by("created_at", "pk")
    ):
        adjustments.setdefault(adj.agent_id, []).append(adj)
    disputed = dict(
        PayDispute.objects.filter(
            month=period.key,
            state=DisputeState.OPEN,
            agent_id__in=[a.user_id for a, _ in people],
        )
        .values("agent_id")
        .annotate(n=Count("id"))
        .values_list("agent_id", "n")
    )
    practice = _practice_of(people, period)
    last = period.end - timedelta(days=1)
    end = f"{last.day} {last:%b %Y}"
    out = []
    for a, plan in people:
        assert plan is not None  # the query kept agents of teams with plans
        statement = statement_build(
            month=period.key,
            card=cards[a.user.username],
            plan=plan,
            metrics=list(plan.metrics.all()),
            adjustments=adjustments.get(a.user_id, []),
            practice=practice.get(a.user_id),
            month_end=end,
        )
        statement.disputes_open = disputed.get(a.user_id, 0)
        out.append(statement)
    return out


def _practice_of(
    people: list[tuple[Agent, PayPlan | None]], period: Period
) -> dict[int, PracticeStanding]:
    """The standing at the month's end of the agents whose plan has a practice gate: one read
    of the practice per target among their plans (none when no plan has a gate)."""
    by_target: dict[float | None, list[int]] = {}
    for a, plan in people:
        if plan is not None and plan.practice_gate:
            target = plan.practice_target if plan.practice_gate == PracticeGate.CASES else None
            by_target.setdefault(target, []).append(a.user_id)
    out: dict[int, PracticeStanding] = {}
    for target, ids in by_target.items():
        out.update(practice_standings(ids, until=period.end, target=target))
    return out


def _cards(
    period: Period, people: list[Agent], *, team: Team | None, scope_teams: frozenset[int] | None
) -> dict[str, Scorecard]:
    """The scorecards' rows of ``people``, computed as ``SYSTEM`` (the same figures for every
    reader) in as few calls as the scope allows."""
    if len(people) == 1:
        found = scorecards(viewer=SYSTEM, period=period, agent=people[0].user).agents
    elif team is not None:
        found = scorecards(viewer=SYSTEM, period=period, team=team).agents
    elif scope_teams is None:
        found = scorecards(viewer=SYSTEM, period=period).agents
    else:
        found = []
        for t in Team.objects.filter(pk__in=scope_teams).order_by("name"):
            found += scorecards(viewer=SYSTEM, period=period, team=t).agents
    return {c.key: c for c in found}


def pay_statement(*, agent: User, period: Period, viewer: Viewer = SYSTEM) -> PayStatement:
    """One agent's statement for the month; NotFound when ``viewer`` may not read it or the
    agent has no pay plan."""
    found = pay_statements(viewer=viewer, period=period, agent=agent)
    if not found:
        raise NotFound(f"pay statement of {agent.username} for {period.key}")
    return found[0]


# --- adjustments ------------------------------------------------------------------------------


def _points_parse(points: Any) -> Decimal:
    def bad(reason: str) -> InvalidInput:
        return InvalidInput(f"bad points: {reason}", [FieldError("points", reason)])

    if isinstance(points, bool) or not isinstance(points, int | float | Decimal | str):
        raise bad("a number")
    try:
        value = Decimal(str(points))
    except InvalidOperation:
        raise bad("a number") from None
    if not value.is_finite():
        raise bad("a number")
    if value != value.quantize(CENT, rounding=ROUND_HALF_UP):
        raise bad("at most 2 decimal places")
    if value == 0:
        raise bad("not 0: an adjustment adds or takes points")
    if abs(value) > ADJUSTMENT_LIMIT:
        raise bad(f"between -{ADJUSTMENT_LIMIT} and {ADJUSTMENT_LIMIT}")
    return value.quantize(CENT)


def _may_adjust(actor: User, agent: User) -> None:
    """Admins (and superusers) adjust anyone's pay; a lead that of their teams' agents;
    nobody their own."""
    if actor.pk == agent.pk:
        raise PermissionDenied("nobody adjusts their own pay")
    if actor.is_superuser:
        return
    profile = agent_for(actor)
    if profile is None or profile.role not in (Role.LEAD, Role.ADMIN):
        raise PermissionDenied("only team leads and admins adjust pay")
    if profile.role == Role.ADMIN:
        return
    shared = Agent.objects.filter(user_id=agent.pk, teams__in=profile.teams.values("pk")).exists()
    if not shared:
        raise PermissionDenied(f"you lead none of {agent.username}'s teams")


def pay_may_adjust(actor: User, agent: User) -> bool:
    """Whether ``actor`` may adjust ``agent``'s pay and answer their disputes."""
    try:
        _may_adjust(actor, agent)
    except PermissionDenied:
        return False
    return True


def pay_adjustment_add(
    *,
    viewer: Viewer,
    agent: User,
    month: str,
    points: Any,
    reason: str,
    now: datetime,
) -> PayAdjustment:
    """Add ``points`` (±, 2 decimals, at most ``ADJUSTMENT_LIMIT``) to ``agent``'s ``month``
    with a ``reason``, by a lead of one of the agent's teams or an admin.

    1. A person acts: an integration token (``SYSTEM``) is refused (403), as is anyone else.
    2. 422 naming the field: ``month`` (YYYY-MM), ``points``, ``reason`` (required),
       ``agent`` (without a pay plan).
    3. One new row; none is ever changed: a correction is another adjustment.
    """
    viewer = viewer_check(viewer)
    if viewer is SYSTEM:
        raise PermissionDenied("an adjustment is made by a person: a lead or an admin")
    period = pay_month_parse(month or "", now=now) if month else None
    if period is None:
        raise InvalidInput("bad month: required", [FieldError("month", "required, e.g. 2026-11")])
    value = _points_parse(points)
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("a reason is required", [FieldError("reason", "required")])
    if len(text) > REASON_MAX:
        raise InvalidInput(
            "the reason is too long", [FieldError("reason", f"at most {REASON_MAX} characters")]
        )
    _may_adjust(viewer, agent)
    profile = agent_for(agent)
    if profile is None or _plan_of(profile, _plans_by_team()) is None:
        raise InvalidInput(
            f"{agent.username} has no pay plan",
            [FieldError("agent", f"no active pay plan covers {agent.username}'s teams")],
        )
    with transaction.atomic():
        return PayAdjustment.objects.create(
            agent=agent,
            month=period.key,
            points=value,
            reason=text,
            created_by=viewer,
            created_at=now,
        )


# --- disputes ---------------------------------------------------------------------------------

DISPUTE_DAYS = 7  # the dispute loop's deadline: a week for the lead to answer


def _month_not_ahead(period: Period, now: datetime) -> None:
    if period.start > now:
        raise InvalidInput(
            f"{period.key} has not begun", [FieldError("month", "this month or an earlier one")]
        )


def pay_dispute_open(
    *,
    viewer: Viewer,
    month: str,
    line: str,
    reason: str,
    now: datetime,
) -> PayDispute:
    """The signed-in agent disputes their own statement for ``month``: one ``line`` (a
    metric of the statement) or the whole of it (``line`` empty), with a ``reason``.

    1. A person disputes their own pay: ``SYSTEM`` (an integration token) is refused (403).
    2. 422 naming the field: ``month`` (YYYY-MM, begun; a month with no statement for
       them), ``line`` (not a line of their statement), ``reason`` (required).
    3. A ``dispute`` loop for the lead of the plan's team (the team's own loop, due in
       ``DISPUTE_DAYS`` days), the dispute row and an email to the lead (the team's address
       without a lead) through the outbox, in one transaction.
    4. One open dispute per agent, month and line: a second is 409 (the partial unique
       constraint decides between two racing requests).
    """
    from lastmile.loops.models import LoopKind
    from lastmile.loops.services import loop_open

    viewer = viewer_check(viewer)
    if viewer is SYSTEM:
        raise PermissionDenied("a dispute is made by the agent whose pay it is")
    if not month:
        raise InvalidInput("bad month: required", [FieldError("month", "required, e.g. 2026-11")])
    period = pay_month_parse(month, now=now)
    _month_not_ahead(period, now)
    line = (line or "").strip()
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("a reason is required", [FieldError("reason", "required")])
    if len(text) > REASON_MAX:
        raise InvalidInput(
            "the reason is too long", [FieldError("reason", f"at most {REASON_MAX} characters")]
        )
    found = pay_statements(viewer=SYSTEM, period=period, agent=viewer)
    if not found:
        raise InvalidInput(
            f"you have no pay statement for {period.key}",
            [FieldError("month", f"no pay plan covers your teams in {period.key}")],
        )
    statement = found[0]
    if line and line not in {ln.metric for ln in statement.lines}:
        names = ", ".join(ln.metric for ln in statement.lines)
        raise InvalidInput(
            f"{line[:40]!r} is not a line of your statement",
            [FieldError("line", f"one of {names}, or empty for the whole statement")],
        )
    team = Team.objects.filter(slug=statement.team).select_related("lead").first()
    what = PayMetric(line).label if line else "the whole statement"
    _dispute_conflict(viewer, period.key, line)
    try:
        with transaction.atomic():
            loop = loop_open(
                customer=None,
                kind=LoopKind.DISPUTE,
                title=f"Pay dispute: {viewer.username}, {period.key}, {what}",
                team=team,
                assignee=team.lead if team is not None else None,
                due_at=now + timedelta(days=DISPUTE_DAYS),
                actor=viewer,
                reason=text[:300],
                now=now,
            )
            dispute = PayDispute.objects.create(
                agent=viewer,
                month=period.key,
                line=line,
                team=team,
                reason=text,
                loop=loop,
                created_at=now,
            )
            lead = team.lead if team is not None else None
            _dispute_tell(
                dispute,
                key="opened",
                to=((lead.email if lead is not None else "") or (team.email if team else "")),
                subject=f"[pay] {viewer.username} disputes {what} for {period.key}",
                body=(
                    f"{viewer.get_full_name() or viewer.username} disputes {what} of their pay "
                    f"statement for {period.key}:\n\n{text}\n\nAnswer on the statement: "
                    f"{_public(_statement_path(period.key, viewer.username))}\n"
                ),
                now=now,
            )
            return dispute
    except IntegrityError:
        _dispute_conflict(viewer, period.key, line)
        raise


def _statement_path(month: str, agent: str) -> str:
    return f"/scorecards/pay/?month={month}" + (f"&agent={agent}" if agent else "")


def _public(path: str) -> str:
    from django.conf import settings

    base = str(getattr(settings, "LASTMILE_PUBLIC_URL", "http://127.0.0.1:8000")).rstrip("/")
    return f"{base}{path}"


def _dispute_tell(
    dispute: PayDispute, *, key: str, to: str, subject: str, body: str, now: datetime
) -> None:
    """An email through the outbox, in the caller's transaction (nobody to tell: nothing)."""
    from lastmile.channels.services import outbox_enqueue, outbox_message

    if not to:
        return
    outbox_enqueue(
        [
            outbox_message(
                key=f"pay-dispute:{dispute.pk}:{key}",
                purpose="notification",
                recipient=to,
                subject=subject,
                body=body,
                now=now,
            )
        ]
    )


def _dispute_conflict(agent: User, month: str, line: str) -> None:
    open_one = PayDispute.objects.filter(
        agent=agent, month=month, line=line, state=DisputeState.OPEN
    ).first()
    if open_one is not None:
        what = PayMetric(line).label if line else "the whole statement"
        raise Conflict(
            f"dispute #{open_one.pk} on {what} for {month} is still open: add to it when "
            "the lead answers",
            errors=[FieldError("line", "an open dispute exists for this line")],
        )


def pay_disputes(
    *,
    viewer: Viewer,
    month: str | None = None,
    agent: User | None = None,
    state: str | None = None,
) -> QuerySet[PayDispute]:
    """The disputes ``viewer`` may read, newest first: an agent their own, a lead their
    teams' agents', an admin and ``SYSTEM`` everyone's."""
    scope = scope_of(viewer)
    qs = PayDispute.objects.select_related(
        "agent", "answered_by", "adjustment", "team", "loop"
    ).order_by("-created_at", "-id")
    if scope.agents is not None:
        qs = qs.filter(agent_id__in=scope.agents)
    if month:
        qs = qs.filter(month=month)
    if agent is not None:
        qs = qs.filter(agent=agent)
    if state:
        qs = qs.filter(state=state)
    return qs


def pay_dispute_get(*, viewer: Viewer, dispute_id: int) -> PayDispute:
    found = pay_disputes(viewer=viewer).filter(pk=dispute_id).first()
    if found is None:
        raise NotFound(f"dispute {dispute_id}")
    return found


def pay_dispute_answer(
    *,
    viewer: Viewer,
    dispute: PayDispute,
    answer: str,
    points: Any = None,
    now: datetime,
) -> PayDispute:
    """A lead of the agent's team (or an admin) answers an open dispute; the dispute loop
    closes with it. With ``points``, an adjustment (``pay_adjustment_add``) is made in the
    same transaction, its reason the answer; the agent is told by email (the outbox).

    1. 403 for anyone who may not adjust the agent's pay (the agent themselves included).
    2. 422 naming ``answer`` (required) or ``points``.
    3. 409 when the dispute is no longer open: the claim is a conditional update, so of
       two leads answering at once one wins and the other is told.
    """
    from lastmile.loops.models import LoopState
    from lastmile.loops.services import loop_close

    viewer = viewer_check(viewer)
    if viewer is SYSTEM:
        raise PermissionDenied("a dispute is answered by a person: a lead or an admin")
    _may_adjust(viewer, dispute.agent)
    text = (answer or "").strip()
    if not text:
        raise InvalidInput("an answer is required", [FieldError("answer", "required")])
    if len(text) > REASON_MAX:
        raise InvalidInput(
            "the answer is too long", [FieldError("answer", f"at most {REASON_MAX} characters")]
        )
    if points not in (None, ""):
        _points_parse(points)  # 422 before anything is written
    if dispute.state != DisputeState.OPEN:
        raise Conflict(f"dispute #{dispute.pk} is answered already")
    with transaction.atomic():
        claimed = PayDispute.objects.filter(pk=dispute.pk, state=DisputeState.OPEN).update(
            state=DisputeState.ANSWERED, answer=text, answered_by=viewer, answered_at=now
        )
        if not claimed:
            raise Conflict(f"dispute #{dispute.pk} is answered already")
        adjustment = None
        if points not in (None, ""):
            adjustment = pay_adjustment_add(
                viewer=viewer,
                agent=dispute.agent,
                month=dispute.month,
                points=points,
                reason=f"Dispute #{dispute.pk} ({dispute.line_label.lower()}): {text}",
                now=now,
            )
            PayDispute.objects.filter(pk=dispute.pk).update(adjustment=adjustment)
        if dispute.loop is not None and dispute.loop.state == LoopState.OPEN:
            loop_close(loop=dispute.loop, actor=viewer, reason="dispute answered", now=now)
        added = (
            f"\n\n{adjustment.points:+.2f} points were added to the statement."
            if adjustment
            else ""
        )
        _dispute_tell(
            dispute,
            key="answered",
            to=dispute.agent.email,
            subject=f"[pay] Your dispute for {dispute.month} is answered",
            body=(
                f"{viewer.get_full_name() or viewer.username} answered your dispute of "
                f"{dispute.line_label.lower()} for {dispute.month}:\n\n{text}{added}\n\n"
                f"Your statement: {_public(_statement_path(dispute.month, ''))}\n"
            ),
            now=now,
        )
    dispute.refresh_from_db()
    return dispute


# --- export -----------------------------------------------------------------------------------


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def statement_rows(statements: list[PayStatement]) -> tuple[list[str], list[list[Any]]]:
    """The payroll table, one row per agent and month: the totals, then each metric's value
    and points (columns for every metric of any statement, in ``PayMetric``'s order). Points
    are ``Decimal``, values floats, an empty cell ``None``; text is formula-safe."""
    used = {line.metric for s in statements for line in s.lines}
    metrics = [m.value for m in PayMetric if m.value in used]
    header = [
        "month",
        "agent",
        "name",
        "team",
        "plan",
        "qa_gate_passed",
        "practice_gate_passed",
        "metrics_points",
        "overall_cap",
        "metrics_total",
        "adjustments",
        "total",
        "disputes_open",
        *[f"{m}_{part}" for m in metrics for part in ("value", "points")],
    ]
    rows = []
    for s in statements:
        by_metric = {line.metric: line for line in s.lines}
        cells: list[Any] = []
        for m in metrics:
            line = by_metric.get(m)
            cells += [None if line is None else line.value, None if line is None else line.points]
        rows.append(
            [
                s.month,
                _cell(s.agent),
                _cell(s.name),
                _cell(s.team),
                _cell(s.plan),
                "yes" if s.gate_passed else "no",
                "yes" if s.practice_passed else "no",
                s.metrics_points,
                s.overall_cap,
                s.metrics_total,
                s.adjustments_total,
                s.total,
                s.disputes_open,
                *cells,
            ]
        )
    return header, rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


def statements_csv(statements: list[PayStatement]) -> str:
    """``statement_rows`` as CSV: points with 2 decimals, an empty cell for no figure."""
    header, rows = statement_rows(statements)
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(header)
    for row in rows:
        out.writerow([_text(v) for v in row])
    return buf.getvalue()


def statements_xlsx(statements: list[PayStatement], *, month: str) -> bytes:
    """``statement_rows`` as an XLSX workbook of one sheet named for the month, numbers as
    numbers (points with 2 decimals), the header row bold and frozen."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    header, rows = statement_rows(statements)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = f"Pay {month}"
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for row in rows:
        sheet.append([float(v) if isinstance(v, Decimal) else v for v in row])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, float) and header[cell.column - 1].endswith(
                ("points", "total", "cap", "adjustments")
            ):
                cell.number_format = "0.00"
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def on_dispute_loop_finished(name: str, data: dict[str, Any], at: datetime) -> None:
    """A dispute's loop finishes only with the lead's answer (``pay_dispute_answer``, which
    marks the dispute answered before it closes the loop): closing, cancelling or breaking
    it anywhere else while the dispute is open is refused, so that no dispute is left open
    behind a closed loop. Subscribed in ``apps.ready``; runs inside the loop's transaction,
    so raising refuses the change."""
    if (
        name not in ("loop.closed", "loop.cancelled", "loop.broken")
        or data.get("kind") != "dispute"
    ):
        return
    loop_id = data.get("loop")
    if not isinstance(loop_id, int):
        return
    dispute = PayDispute.objects.filter(loop_id=loop_id, state=DisputeState.OPEN).first()
    if dispute is None:
        return
    raise Conflict(
        f"dispute #{dispute.pk} is answered on {dispute.agent.username}'s pay statement for "
        f"{dispute.month} (/scorecards/pay/?month={dispute.month}&agent="
        f"{dispute.agent.username}): its answer closes this loop"
    )
