"""Reads of recovery: the rules, and the close rate of a funnel with what recovery won.

The close rate joins two sources: the funnel's own counts from the analytics engine
(prospects that entered, reached the last mile, closed) and the recoveries from the
database (opened, recovered, lost, revenue), over one date range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import QuerySet

from lastmile.core.errors import FieldError, InvalidInput, NotFound
from lastmile.customers.models import Customer
from lastmile.funnels.engines import Engine
from lastmile.funnels.funnel_selectors import funnel_definition, funnel_get, funnel_list
from lastmile.funnels.models import Funnel
from lastmile.funnels.results import rate
from lastmile.loops.models import SlaPolicy
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import Viewer
from lastmile.recovery.models import Outcome, Recovery, RecoveryRule, outreach_words


def rules_list(*, viewer: Viewer, funnel: Funnel | None = None) -> QuerySet[RecoveryRule]:
    """The rules of the funnels ``viewer`` may read (every agent reads them, as funnels)."""
    qs = RecoveryRule.objects.filter(
        funnel__in=funnel_list(viewer=viewer, archived=None).values("pk")
    ).select_related("funnel", "team", "sla_policy")
    if funnel is not None:
        qs = qs.filter(funnel=funnel)
    return qs.order_by("name", "id")


def rule_get(*, rule_id: int, viewer: Viewer) -> RecoveryRule:
    """One rule of a funnel ``viewer`` may read; 404 when missing or not theirs."""
    found = rules_list(viewer=viewer).filter(pk=rule_id).first() if 0 < rule_id < 2**63 else None
    if found is None:
        raise NotFound(f"recovery rule {rule_id}")
    return found


def sla_policy_by_name(name: str | None, *, field: str = "sla_policy") -> SlaPolicy | None:
    """The SLA policy called ``name``; None for no name; a 422 naming ``field`` if none."""
    if name is None:
        return None
    policy = SlaPolicy.objects.filter(name=name).first()
    if policy is None:
        raise InvalidInput(
            f"no SLA policy {name!r}", [FieldError(field, f"no SLA policy {name!r}")]
        )
    return policy


def recoveries_list(
    *, viewer: Viewer, funnel: Funnel | None = None, outcome: str | None = None
) -> QuerySet[Recovery]:
    """Recoveries, newest first, of the rules whose team ``viewer`` sees (the loops'
    rule: an agent sees their teams' work; admins and ``SYSTEM`` all)."""
    qs = Recovery.objects.select_related("rule__funnel", "rule__team", "customer")
    teams = visible_team_ids(viewer)
    if teams is not None:
        qs = qs.filter(rule__team_id__in=sorted(teams))
    if funnel is not None:
        qs = qs.filter(rule__funnel=funnel)
    if outcome is not None:
        qs = qs.filter(outcome=outcome)
    return qs.order_by("-opened_at", "-id")


def recovery_get(*, recovery_id: int, viewer: Viewer) -> Recovery:
    """One recovery of a rule whose team ``viewer`` sees, with its loop's trail; 404 when
    missing or not theirs."""
    found = None
    if 0 < recovery_id < 2**63:
        found = (
            recoveries_list(viewer=viewer)
            .select_related("loop__team", "loop__assignee")
            .prefetch_related("loop__events__actor")
            .filter(pk=recovery_id)
            .first()
        )
    if found is None:
        raise NotFound(f"recovery {recovery_id}")
    return found


CUSTOMER_RECOVERIES = 20  # the customer page lists the newest


def customer_recoveries(*, customer: Customer, viewer: Viewer) -> list[Recovery]:
    """The customer's recoveries ``viewer`` may see (their teams' rules; admins all), open
    ones first, then the newest: the customer page's panel, one query."""
    qs = Recovery.objects.filter(customer=customer).select_related(
        "rule__funnel", "rule__team", "loop"
    )
    teams = visible_team_ids(viewer)
    if teams is not None:
        qs = qs.filter(rule__team_id__in=sorted(teams))
    rows = list(qs.order_by("-opened_at", "-id")[:CUSTOMER_RECOVERIES])
    return sorted(rows, key=lambda r: r.outcome != Outcome.OPEN)  # stable: newest within


@dataclass
class Tally:
    """Recoveries counted: opened in the range, and how the closed ones ended."""

    opened: int = 0
    open: int = 0
    recovered: int = 0
    lost: int = 0
    revenue: dict[str, Decimal] = field(default_factory=dict)  # by currency ("" unknown)

    def add(self, outcome: str, revenue: Decimal | None, cur: str) -> None:
        self.opened += 1
        if outcome == Outcome.OPEN:
            self.open += 1
        elif outcome == Outcome.LOST:
            self.lost += 1
        else:
            self.recovered += 1
            if revenue is not None:
                self.revenue[cur] = self.revenue.get(cur, Decimal(0)) + revenue

    @property
    def recovery_rate(self) -> float | None:
        """Recovered over recoveries that ended (open ones have not yet)."""
        return rate(self.recovered, self.recovered + self.lost)

    @property
    def revenue_said(self) -> str:
        return (
            ", ".join(
                f"{v.quantize(Decimal('0.01')):,} {c}".strip()
                for c, v in sorted(self.revenue.items())
            )
            or "—"
        )


@dataclass
class Week:
    start: date  # the Monday (UTC)
    entered: int = 0
    closed: int = 0
    recoveries: Tally = field(default_factory=Tally)

    @property
    def close_rate(self) -> float | None:
        return rate(self.closed, self.entered)


@dataclass
class TeamRow:
    team: str  # the owning team's name
    slug: str
    recoveries: Tally = field(default_factory=Tally)


@dataclass
class OutreachRow:
    outreach: str  # message or call
    label: str  # the channel and subject of a message; "call"
    recoveries: Tally = field(default_factory=Tally)
    rules: list[str] = field(default_factory=list)  # the names of the rules that sent it

    @property
    def said(self) -> str:
        """The outreach in words: "Email", "Text message" or "Call task"."""
        return outreach_words(self.outreach, self.label)


@dataclass
class CloseRate:
    """One funnel over ``start``..``end``: the funnel's counts (engine) and recovery's."""

    funnel: Funnel
    start: datetime
    end: datetime
    entered: int
    last_mile: int  # reached the final step's predecessor
    closed: int  # completed the funnel
    recoveries: Tally
    weeks: list[Week]
    teams: list[TeamRow]
    outreach: list[OutreachRow]

    @property
    def close_rate(self) -> float | None:
        """Closed over entered: the share of prospects who bought."""
        return rate(self.closed, self.entered)

    @property
    def last_mile_rate(self) -> float | None:
        """Closed over those who reached the last mile."""
        return rate(self.closed, self.last_mile)


def _monday(t: datetime | date) -> date:
    d = t.date() if isinstance(t, datetime) else t
    return d - timedelta(days=d.weekday())


def close_rate(
    *,
    funnel_id: int,
    viewer: Viewer,
    from_: datetime | None,
    to: datetime | None,
    now: datetime,
    engine: Engine,
) -> CloseRate:
    """The close rate of a saved funnel and what recovery won, over a range (the funnels'
    default: the 30 days to ``to``, ``to`` now; ``from`` after ``to`` is a 422 naming it).

    The funnel's counts are people by their entry in the range (the engine's semantics);
    recoveries count by when they opened in the range, grouped by the rule's owning team
    and by outreach (kind and message), and by ISO week (Monday, UTC) with the trend's
    weeks. Not this viewer's funnel (or none): 404.
    """
    funnel = funnel_get(funnel_id=funnel_id, viewer=viewer)
    d = funnel_definition(funnel=funnel, from_=from_, to=to, now=now)
    result = engine.funnel(d)
    steps = result.steps
    weeks: dict[date, Week] = {
        _monday(p.start): Week(start=_monday(p.start), entered=p.entered, closed=p.converted)
        for p in engine.trend(d, interval="week")
    }
    total = Tally()
    teams: dict[int, TeamRow] = {}
    outreach: dict[tuple[str, str], OutreachRow] = {}
    rows = (
        Recovery.objects.filter(rule__funnel=funnel, opened_at__gte=d.from_, opened_at__lte=d.to)
        .values_list(
            "opened_at",
            "outcome",
            "revenue",
            "revenue_currency",
            "outreach",
            "outreach_label",
            "rule__team_id",
            "rule__team__name",
            "rule__team__slug",
            "rule__name",
        )
        .order_by("opened_at", "id")
    )
    for opened_at, outcome, revenue, cur, kind, label, team_id, team_name, slug, rule in rows:
        total.add(outcome, revenue, cur)
        monday = _monday(opened_at)
        weeks.setdefault(monday, Week(start=monday)).recoveries.add(outcome, revenue, cur)
        teams.setdefault(team_id, TeamRow(team=team_name, slug=slug)).recoveries.add(
            outcome, revenue, cur
        )
        row = outreach.setdefault((kind, label), OutreachRow(outreach=kind, label=label))
        row.recoveries.add(outcome, revenue, cur)
        if rule not in row.rules:
            row.rules.append(rule)
    best = sorted(
        outreach.values(),
        key=lambda o: (-(o.recoveries.recovery_rate or 0), -o.recoveries.opened, o.label),
    )
    return CloseRate(
        funnel=funnel,
        start=d.from_,
        end=d.to,
        entered=steps[0].count if steps else 0,
        last_mile=steps[-2].count if len(steps) >= 2 else 0,
        closed=steps[-1].count if steps else 0,
        recoveries=total,
        weeks=[weeks[k] for k in sorted(weeks)],
        teams=sorted(teams.values(), key=lambda t: t.team),
        outreach=best,
    )


def weekly_rows(report: CloseRate) -> list[list[str]]:
    """The weeks as CSV rows (header first): the page's export. The recovered revenue is a
    plain number (2 decimals) with its currency in the next column; a week that recovered
    in more than one currency has a row more for each other currency, holding only the week
    and that revenue (its counts are on the week's first row, so columns still add up)."""
    out = [
        [
            "week",
            "entered",
            "closed",
            "close_rate",
            "recoveries_opened",
            "recovered",
            "lost",
            "still_open",
            "recovered_revenue",
            "currency",
        ]
    ]
    for w in report.weeks:
        t = w.recoveries
        revenue = [[f"{v.quantize(Decimal('0.01'))}", c] for c, v in sorted(t.revenue.items())] or [
            ["", ""]
        ]
        out.append(
            [
                w.start.isoformat(),
                str(w.entered),
                str(w.closed),
                "" if w.close_rate is None else f"{w.close_rate:.4f}",
                str(t.opened),
                str(t.recovered),
                str(t.lost),
                str(t.open),
                *revenue[0],
            ]
        )
        out += [[w.start.isoformat(), *[""] * 7, *more] for more in revenue[1:]]
    return out
