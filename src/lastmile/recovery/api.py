"""The recovery API, under /api/v1/recovery: the rules, and the close rate of a funnel.

Every agent's token reads them (as funnels). Bad input is a 422 naming the field
(``funnel``, ``from``); a funnel that is not there is a 404.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.pagination import paginate
from pydantic import ConfigDict, Field

from lastmile.api.auth import viewer_of
from lastmile.api.pagination import BoundedLimitOffset, LazyPage
from lastmile.core.clock import utcnow
from lastmile.core.instants import UtcDatetime
from lastmile.funnels.funnel_selectors import analytics_freshness, funnel_get
from lastmile.funnels.services import analytics_engine
from lastmile.recovery.models import Outcome, Recovery
from lastmile.recovery.selectors import CloseRate, Tally, close_rate, recoveries_list, rules_list

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
    active: bool


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
        {
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
            "active": r.active,
        }
        for r in rules_list(viewer=viewer_of(request))
        if funnel is None or r.funnel_id == funnel
    ]


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
