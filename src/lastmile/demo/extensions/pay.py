"""The variable pay's part of the demo: a pay plan for each demo team, so that every demo
agent and lead has a pay statement for the last complete month (/scorecards/pay/); one
adjustment with its reason (the front office's lead, for the front office's agent); one open
dispute from the cards agent, with its loop on the cards lead's list; and the weekly digest
for the demo admin. Runs after the scorecards' part (its QA reviews feed the quality gate).

Idempotent: a team with an active plan keeps it, and the adjustment, dispute and
subscription are made once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from lastmile.scorecards.digest import digest_subscription_set
from lastmile.scorecards.models import DisputeState, PayAdjustment, PayDispute, PayPlan
from lastmile.scorecards.pay import pay_adjustment_add, pay_dispute_open

# (metric, target, weight, cap, higher_is_better): outcomes, each capped a little above its
# weight so that no one metric pays for gaming it; breaches count against.
METRICS: list[tuple[str, float, str, str, bool]] = [
    ("on_time_rate", 0.85, "10", "12", True),
    ("loops_closed", 20, "6", "7", True),
    ("promises_kept", 4, "4", "5", True),
    ("csat", 80, "6", "7", True),
    ("qa_score", 80, "6", "7", True),
    ("breaches", 2, "3", "4", False),
]
QUALITY_GATE = 50.0
OVERALL_CAP = Decimal("35")
ADJUSTED = ("front", "front-lead")  # (agent, lead)
ADJUSTMENT_REASON = "Covered the cards team's Saturday phone rota for two weekends"
DISPUTER = "cards"
DISPUTE_LINE = "on_time_rate"
DISPUTE_REASON = (
    "Three of the late loops were reassigned to me after their deadline had passed; "
    "they should not count against my on-time rate."
)


def last_complete_month(now: datetime) -> str:
    first = now.astimezone(UTC).replace(day=1)
    return f"{first - timedelta(days=1):%Y-%m}"


def _plans(teams: dict[str, Any]) -> int:
    from lastmile.scorecards.models import PayPlanMetric

    made = 0
    for team in teams.values():
        if PayPlan.objects.filter(team=team, active=True).exists():
            continue
        # Configuration rows, as an admin adds them in the admin: no service owns them.
        plan = PayPlan.objects.create(
            team=team,
            name=f"{team.name} variable pay",
            min_quality_gate=QUALITY_GATE,
            overall_cap=OVERALL_CAP,
        )
        for pos, (metric, target, weight, cap, higher) in enumerate(METRICS):
            PayPlanMetric.objects.create(
                plan=plan,
                metric=metric,
                target=target,
                weight=Decimal(weight),
                cap=Decimal(cap),
                higher_is_better=higher,
                position=pos,
            )
        made += 1
    return made


def seed(seeder: Any) -> list[str]:
    now = seeder.now
    month = last_complete_month(now)
    plans = _plans(seeder.teams)
    agent, lead = (seeder.users[name] for name in ADJUSTED)
    if not PayAdjustment.objects.filter(agent=agent, month=month).exists():
        pay_adjustment_add(
            viewer=lead, agent=agent, month=month, points="2.50", reason=ADJUSTMENT_REASON, now=now
        )
    disputer = seeder.users[DISPUTER]
    if not PayDispute.objects.filter(
        agent=disputer, month=month, line=DISPUTE_LINE, state=DisputeState.OPEN
    ).exists():
        pay_dispute_open(
            viewer=disputer, month=month, line=DISPUTE_LINE, reason=DISPUTE_REASON, now=now
        )
    digest_subscription_set(user=seeder.users["demo"], active=True, now=now)
    return [
        f"pay: {plans} pay plans; statements for {month} at /scorecards/pay/?month={month} "
        f"(an adjustment for {ADJUSTED[0]} by {ADJUSTED[1]}, an open dispute from "
        f"{DISPUTER} for cards-lead); the weekly digest for demo (/scorecards/digest/)"
    ]
