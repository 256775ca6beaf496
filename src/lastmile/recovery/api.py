"""The recovery API, under /api/v1/recovery: the rules, the recoveries, and the close rate
of a funnel.

Every agent's token reads the rules (as funnels); admins' and integration tokens write them,
and a team lead's token the rules of the teams they lead (``services.rule_teams_managed``),
through the service the admin uses (``services.rule_save``). DELETE switches a rule off (its
recoveries keep it); ``PATCH {"active": true}`` brings it back. Bad input is a 422 naming
the field (``funnel``, ``team``, ``window_seconds``, ``channel``, ``from``) with nothing
written; a taken name is a 409; a funnel asked by the close rate that is not there is a 404.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict, Field

from lastmile.api.auth import viewer_of
from lastmile.api.pagination import BoundedLimitOffset, LazyPage
from lastmile.api.types import StrictSchema
from lastmile.core.clock import utcnow
from lastmile.core.errors import FieldError, InvalidInput, NotFound
from lastmile.core.instants import UtcDatetime
from lastmile.funnels.funnel_selectors import analytics_freshness, funnel_get
from lastmile.funnels.services import analytics_engine
from lastmile.people.selectors import team_by_slug
from lastmile.people.viewers import actor_of
from lastmile.recovery.models import Outcome, Recovery, RecoveryRule
from lastmile.recovery.selectors import (
    CloseRate,
    Tally,
    close_rate,
    recoveries_list,
    rule_get,
    rules_list,
    sla_policy_by_name,
)
from lastmile.recovery.services import MAX_WINDOW, rule_save

router = Router(tags=["recovery"])

RANGE_HELP = "ISO 8601 with a time zone; default: `to` now, `from` 30 days before `to`"


class CloseRateQuery(Schema):
    model_config = ConfigDict(populate_by_name=True)

    funnel: int = Field(ge=1, le=2**62, description="A saved funnel's id")
    from_: UtcDatetime | None = Field(default=None, alias="from", description=RANGE_HELP)
    to: UtcDatetime | None = Field(default=None, description=RANGE_HELP)


class RevenueOut(Schema):
    currency: str
    amount: Decimal


class TallyOut(Schema):
    opened: int
    open: int
    recovered: int
    lost: int
    recovery_rate: float | None = Field(description="recovered / (recovered + lost)")
    revenue: list[RevenueOut]


class WeekOut(Schema):
    start: date
    entered: int
    closed: int
    close_rate: float | None
    recoveries: TallyOut


class TeamOut(Schema):
    team: str
    recoveries: TallyOut


class OutreachOut(Schema):
    outreach: str
    label: str
    recoveries: TallyOut


class FreshnessOut(Schema):
    mark: int
    copied_at: datetime | None


class CloseRateOut(Schema):
    funnel: int
    name: str
    team: str | None
    from_: datetime = Field(alias="from")
    to: datetime
    entered: int
    last_mile: int = Field(description="reached the final step's predecessor")
    closed: int
    close_rate: float | None = Field(description="closed / entered")
    last_mile_rate: float | None = Field(description="closed / last_mile")
    recoveries: TallyOut
    weeks: list[WeekOut]
    teams: list[TeamOut]
    outreach: list[OutreachOut] = Field(description="best recovery rate first")
    freshness: FreshnessOut


class RecoveriesQuery(Schema):
    funnel: int | None = Field(default=None, ge=1, le=2**62, description="A saved funnel's id")
    outcome: Literal["open", "recovered", "lost"] | None = None


class RecoveryOut(Schema):
    id: int
    rule: int
    funnel: int
    team: str
    customer: int
    loop: int
    abandon_event: int
    abandoned_at: datetime
    items: list[Any]
    value: Decimal | None
    currency: str
    outreach: str
    outreach_label: str
    outcome: str
    opened_at: datetime
    ends_at: datetime
    closed_at: datetime | None
    revenue: Decimal | None
    revenue_currency: str
    completed_event: int | None


def recovery_out(r: Recovery) -> dict[str, Any]:
    return {
        "id": r.pk,
        "rule": r.rule_id,
        "funnel": r.rule.funnel_id,
        "team": r.rule.team.slug,
        "customer": r.customer_id,
        "loop": r.loop_id,
        "abandon_event": r.abandon_event_id,
        "abandoned_at": r.abandoned_at,
        "items": r.items,
        "value": r.value,
        "currency": r.currency,
        "outreach": r.outreach,
        "outreach_label": r.outreach_label,
        "outcome": r.outcome,
        "opened_at": r.opened_at,
        "ends_at": r.ends_at,
        "closed_at": r.closed_at,
        "revenue": r.revenue,
        "revenue_currency": r.revenue_currency,
        "completed_event": r.completed_event_id,
    }


class RuleOut(Schema):
    id: int
    name: str
    funnel: int
    abandon_step: int
    abandon_after_seconds: int
    window_seconds: int
    team: str
    sla_policy: str | None
    sla_seconds: int | None
    outreach: str
    channel: str
    subject: str
    body: str
    active: bool
    created_at: datetime
    updated_at: datetime


def rule_out(r: RecoveryRule) -> dict[str, Any]:
    return {
        "id": r.pk,
        "name": r.name,
        "funnel": r.funnel_id,
        "abandon_step": r.abandon_step,
        "abandon_after_seconds": r.abandon_after_seconds,
        "window_seconds": r.window_seconds,
        "team": r.team.slug,
        "sla_policy": r.sla_policy.name if r.sla_policy is not None else None,
        "sla_seconds": r.sla_seconds,
        "outreach": r.outreach,
        "channel": r.channel,
        "subject": r.subject,
        "body": r.body,
        "active": r.active,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    }


CHANNEL_HELP = "a message's channel: `email`, or `sms:<integration>` (an SMS integration)"
BODY_HELP = (
    "a message's text, with {{customer.first_name}}, {{customer.name}}, {{items}}, {{value}}, "
    "{{currency}}, {{funnel}}"
)


class RuleIn(StrictSchema):
    name: str = Field(min_length=1, max_length=200)
    funnel: int = Field(ge=1, le=2**62, description="A saved funnel's id")
    abandon_step: int = Field(
        ge=1, le=29, description="The step (1 = first) a person reached before stopping"
    )
    abandon_after_seconds: int = Field(
        default=3600, ge=1, le=MAX_WINDOW, description="How long without a later step is abandoned"
    )
    window_seconds: int = Field(
        default=7 * 86400,
        ge=1,
        le=MAX_WINDOW,
        description="How long recovery may take before it is lost",
    )
    team: str = Field(min_length=1, max_length=50, description="The owning team's slug")
    sla_policy: str | None = Field(
        default=None, max_length=100, description="An SLA policy's name (not with sla_seconds)"
    )
    sla_seconds: int | None = Field(
        default=None, ge=1, le=MAX_WINDOW, description="Seconds of the team's business hours to act"
    )
    outreach: Literal["message", "call"] = "call"
    channel: str = Field(default="", max_length=40, description=CHANNEL_HELP)
    subject: str = Field(default="", max_length=300, description="an email's subject")
    body: str = Field(default="", max_length=10_000, description=BODY_HELP)
    active: bool = True


class RulePatch(StrictSchema):
    """The fields to change; the others keep their value. ``active: false`` switches the
    rule off (as DELETE does), ``true`` back on."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    funnel: int | None = Field(default=None, ge=1, le=2**62)
    abandon_step: int | None = Field(default=None, ge=1, le=29)
    abandon_after_seconds: int | None = Field(default=None, ge=1, le=MAX_WINDOW)
    window_seconds: int | None = Field(default=None, ge=1, le=MAX_WINDOW)
    team: str | None = Field(default=None, min_length=1, max_length=50)
    sla_policy: str | None = Field(default=None, max_length=100, description="null: none")
    sla_seconds: int | None = Field(default=None, ge=1, le=MAX_WINDOW, description="null: none")
    outreach: Literal["message", "call"] | None = None
    channel: str | None = Field(default=None, max_length=40, description=CHANNEL_HELP)
    subject: str | None = Field(default=None, max_length=300)
    body: str | None = Field(default=None, max_length=10_000, description=BODY_HELP)
    active: bool | None = None


NULLABLE = {"sla_policy", "sla_seconds"}


def _rule_fields(given: dict[str, Any], *, viewer: Any) -> dict[str, Any]:
    """The body's fields as the service takes them: the funnel, team and SLA policy named
    in it looked up (an unknown one is a 422 naming the field), nothing else changed."""
    nulls = sorted(k for k, v in given.items() if v is None and k not in NULLABLE)
    if nulls:
        raise InvalidInput(
            f"{nulls[0]}: must not be null", [FieldError(k, "must not be null") for k in nulls]
        )
    fields = dict(given)
    if "funnel" in fields:
        try:
            fields["funnel"] = funnel_get(funnel_id=fields["funnel"], viewer=viewer)
        except NotFound:
            raise InvalidInput(
                f"no saved funnel {fields['funnel']}",
                [FieldError("funnel", f"no saved funnel {fields['funnel']}")],
            ) from None
    if "team" in fields:
        fields["team"] = team_by_slug(fields["team"])
    if "sla_policy" in fields:
        fields["sla_policy"] = sla_policy_by_name(fields["sla_policy"])
    return fields


def tally_out(t: Tally) -> dict[str, Any]:
    return {
        "opened": t.opened,
        "open": t.open,
        "recovered": t.recovered,
        "lost": t.lost,
        "recovery_rate": t.recovery_rate,
        "revenue": [{"currency": c, "amount": v} for c, v in sorted(t.revenue.items())],
    }


def close_rate_out(report: CloseRate, *, freshness: dict[str, Any]) -> dict[str, Any]:
    f = report.funnel
    return {
        "funnel": f.pk,
        "name": f.name,
        "team": f.team.slug if f.team is not None else None,
        "from": report.start,
        "to": report.end,
        "entered": report.entered,
        "last_mile": report.last_mile,
        "closed": report.closed,
        "close_rate": report.close_rate,
        "last_mile_rate": report.last_mile_rate,
        "recoveries": tally_out(report.recoveries),
        "weeks": [
            {
                "start": w.start,
                "entered": w.entered,
                "closed": w.closed,
                "close_rate": w.close_rate,
                "recoveries": tally_out(w.recoveries),
            }
            for w in report.weeks
        ],
        "teams": [{"team": t.slug, "recoveries": tally_out(t.recoveries)} for t in report.teams],
        "outreach": [
            {"outreach": o.outreach, "label": o.label, "recoveries": tally_out(o.recoveries)}
            for o in report.outreach
        ],
        "freshness": freshness,
    }


@router.get(
    "/close-rate",
    response=CloseRateOut,
    by_alias=True,
    summary="A funnel's close rate, and what recovery loops won, by week, team and outreach",
)
def close_rate_get(request: HttpRequest, filters: Query[CloseRateQuery]) -> dict[str, Any]:
    engine = analytics_engine()
    report = close_rate(
        funnel_id=filters.funnel,
        viewer=viewer_of(request),
        from_=filters.from_,
        to=filters.to,
        now=utcnow(),
        engine=engine,
    )
    fresh = analytics_freshness(engine=engine)
    return close_rate_out(report, freshness={"mark": fresh.mark, "copied_at": fresh.copied_at})


@router.get("/rules", response=list[RuleOut], summary="The recovery rules")
def rules_get(request: HttpRequest, funnel: int | None = None) -> list[dict[str, Any]]:
    return [
        rule_out(r)
        for r in rules_list(viewer=viewer_of(request))
        if funnel is None or r.funnel_id == funnel
    ]


@router.post(
    "/rules",
    response={201: RuleOut},
    summary="Write a recovery rule (admins, integration tokens, and the owning team's lead)",
)
def rule_create(request: HttpRequest, payload: RuleIn) -> Status:
    viewer = viewer_of(request)
    fields = _rule_fields(payload.model_dump(), viewer=viewer)
    rule = rule_save(actor=actor_of(viewer), now=utcnow(), **fields)
    return Status(201, rule_out(rule))


@router.get("/rules/{rule_id}", response=RuleOut, summary="One recovery rule")
def rule_get_one(request: HttpRequest, rule_id: int) -> dict[str, Any]:
    return rule_out(rule_get(rule_id=rule_id, viewer=viewer_of(request)))


@router.patch(
    "/rules/{rule_id}",
    response=RuleOut,
    summary="Change some of a rule's fields (active: false switches it off, true back on)",
)
def rule_change(request: HttpRequest, rule_id: int, payload: RulePatch) -> dict[str, Any]:
    viewer = viewer_of(request)
    rule = rule_get(rule_id=rule_id, viewer=viewer)
    given = {k: getattr(payload, k) for k in payload.model_fields_set}
    rule = rule_save(
        rule=rule, actor=actor_of(viewer), now=utcnow(), **_rule_fields(given, viewer=viewer)
    )
    return rule_out(rule)


@router.delete(
    "/rules/{rule_id}",
    response=RuleOut,
    summary="Switch a rule off: no new recoveries; open ones run to their end (kept for the "
    "close rate)",
)
def rule_switch_off(request: HttpRequest, rule_id: int) -> dict[str, Any]:
    viewer = viewer_of(request)
    rule = rule_get(rule_id=rule_id, viewer=viewer)
    return rule_out(rule_save(rule=rule, actor=actor_of(viewer), now=utcnow(), active=False))


@router.get(
    "/recoveries",
    response=list[RecoveryOut],
    summary="Recoveries of the viewer's teams, newest first (an integration token: all)",
)
@paginate(BoundedLimitOffset)
def recoveries_get(request: HttpRequest, filters: Query[RecoveriesQuery]) -> Any:
    viewer = viewer_of(request)
    funnel = funnel_get(funnel_id=filters.funnel, viewer=viewer) if filters.funnel else None
    outcome = Outcome(filters.outcome) if filters.outcome else None
    return LazyPage(recoveries_list(viewer=viewer, funnel=funnel, outcome=outcome), recovery_out)
