"""Carry the demo plan out through the services: ``seed_demo(seed=, customers=, now=)``.

Everything a service computes — reply loops, deadlines, breaches, escalations, case
numbers — is computed by that service here: the seed only decides what happens and when.
Steps run in time order with the clock set to the step's time, and the sweeper runs on a
``SWEEP_EVERY`` grid of simulated time in between (skipping grid points where no rung is
due), so loops that breached in the past were escalated when the worker would have done it. A final sweep at ``now`` leaves the database
as a worker running at ``now`` would.

The whole seed is one transaction, claimed by the ``demo_seed`` counter: it is all there or
not at all, and running it again (even concurrently) adds nothing.
"""

from __future__ import annotations

import time as _time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Min

from lastmile.cases.models import Case
from lastmile.cases.services import case_create, case_set_status
from lastmile.core.ids import counter_next
from lastmile.core.models import Counter
from lastmile.customers.identities import identity_normalize
from lastmile.customers.models import Customer, Interaction
from lastmile.customers.services.customers import customer_resolve, customer_update
from lastmile.customers.services.ingest import InteractionIn, interactions_ingest
from lastmile.customers.services.sentiment import interactions_sentiment_score_all
from lastmile.customers.services.timeline import interaction_record
from lastmile.demo import funnels, texts
from lastmile.demo.chats import ChatDesk
from lastmile.demo.extensions import (
    channels,
    coaching,
    crisis,
    feedback,
    history,
    jobs,
    journeys,
    knowledge,
    listening,
    live,
    macros,
    mail,
    pay,
    portal,
    promises,
    responders,
    scorecards,
    training,
    webhooks,
)
from lastmile.demo.plan import BUSINESS_HOURS, LADDER, POLICIES, Plan, Step
from lastmile.demo.stories import build_plan
from lastmile.loops.models import BusinessHours, Loop, LoopKind, LoopState, SlaPolicy
from lastmile.loops.selectors import loop_state_counts, loops_open_on_case
from lastmile.loops.services import (
    ladder_validate,
    loop_close,
    loop_open,
    loop_pause,
    loops_sweep,
)
from lastmile.people.models import Role, Team
from lastmile.people.services import agent_create, team_ensure, team_set_lead

MARKER = "demo_seed"
PASSWORD = "demo"
EMAIL_DOMAIN = "demo.lastmile.local"
SWEEP_EVERY = timedelta(minutes=30)
INGEST_BATCH = 1000

ALREADY = "demo data already present; nothing to do"


# Each app's part of the demo (``demo/extensions/<app>.py``), in this order.
DEMO_EXTENSIONS = [
    mail,
    webhooks,
    listening,
    crisis,  # after listening: it runs the triggers over listening's week of mentions
    promises,
    knowledge,
    macros,  # after the stories: it tags their cases
    journeys,
    portal,
    channels,  # its mention needs the listening demo's brand term
    funnels,  # sixty days of website events, copied into the analytics engine on commit
    jobs,  # after journeys: Margaret's second visit is the journeys demo's case
    feedback,  # ninety days of answers on the cases above; the contact-budget scene
    history,  # thirteen weeks of Cards improving and Membership slipping
    scorecards,  # QA first pass and rollups over everything above
    pay,  # pay plans and statements from the scorecards' figures
    coaching,  # a lead's review below target, after the QA first pass
    training,  # practice cases made from closed conversations
    responders,  # a guarded responder from the stores answering a mention
]


class AlreadySeeded(Exception):
    """Another run of the seed got there first."""


@dataclass
class SeedReport:
    seed: int
    customers: int
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    case_status: dict[str, int] = field(default_factory=dict)
    sla_states: dict[str, int] = field(default_factory=dict)
    stories: dict[str, tuple[str, str]] = field(
        default_factory=dict
    )  # name -> (ref, what it shows)
    extra: list[str] = field(default_factory=list)  # lines from the apps' own demo parts

    def lines(self) -> list[str]:
        c = self.counts
        status = ", ".join(f"{k} {v:,}" for k, v in self.case_status.items())
        states = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in self.sla_states.items() if v)
        out = [
            f"demo data seeded in {self.seconds:.1f} s (seed {self.seed}, {self.customers} background customers)",
            f"  customers {c['customers']:,} · cases {c['cases']:,} ({status}) · interactions {c['interactions']:,}",
            f"  loops {c['loops']:,}: open {c['open_loops']:,} ({states}) · breached ever {c['breached']:,}",
            "stories:",
        ]
        out += [f"  {ref:<9} {name:<17} {what}" for name, (ref, what) in self.stories.items()]
        out += self.extra
        teams = ", ".join(slug for slug, _, _ in texts.TEAMS)
        out += [
            f"logins (password '{PASSWORD}'):",
            "  demo — admin, sees every team by role (a member of none)",
            f"  {teams} — one agent per team",
            "  " + ", ".join(f"{slug}-lead" for slug, _, _ in texts.TEAMS) + " — team leads",
            "  front-new — a new front-office agent on the onboarding path (/training/)",
            "  store — a guarded responder from the stores (/responders/)",
        ]
        return out


def demo_present() -> bool:
    return Counter.objects.filter(name=MARKER).exists()


def seed_demo(
    *,
    seed: int = 42,
    customers: int = 300,
    now: datetime,
    out: Callable[[str], Any] = print,
    funnel_events: int | None = None,
) -> SeedReport | None:
    """Seed the demo once; returns what was made, or None (and says so) when it is there already.

    ``funnel_events``: the website events of the funnels' journeys (``demo.funnels``);
    None: ``funnels.EVENTS_PER_CUSTOMER`` per background customer.
    """
    if demo_present():
        out(ALREADY)
        return None
    started = _time.perf_counter()
    plan = build_plan(seed=seed, customers=customers, now=now)
    plan.funnel_events = funnels.events_for(customers) if funnel_events is None else funnel_events
    try:
        with transaction.atomic():
            # Claim first: a concurrent run waits on this row and then finds it taken.
            if counter_next(MARKER, start=0) != 1:
                raise AlreadySeeded
            report = _Seeder(plan).run()
    except AlreadySeeded:
        out(ALREADY)
        return None
    report.seconds = _time.perf_counter() - started
    for line in report.lines():
        out(line)
    return report


class _Seeder:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.now = plan.now
        self.teams: dict[str, Team] = {}
        self.users: dict[str, Any] = {}
        self.customers: dict[str, Customer] = {}
        self.cases: dict[str, Case] = {}
        self.loops: dict[str, Loop] = {}
        self.extension_lines: list[str] = []
        self.chats: ChatDesk | None = None

    def run(self) -> SeedReport:
        self.setup()
        # Before the history: its chat messages come in through these (demo.chats).
        self.chats = ChatDesk(teams=self.teams, now=self.now)
        self.people()
        self.history()
        self.background()
        # The batch ingest leaves sentiment to the worker; the seed scores as the worker would,
        # before the apps' parts of the demo read it (and again for the messages they add).
        interactions_sentiment_score_all()
        self.extensions()
        interactions_sentiment_score_all()
        loops_sweep(now=self.now)
        # The lessons of the breaches the last sweep made, as the worker would open them
        # (else it opens them when it starts), and how many lessons the demo starts with.
        self.extension_lines += coaching.settle(self)
        # After the last sweep (it notifies too): the bell as an agent who kept up sees it.
        self.extension_lines += live.settle(self)
        return self.report()

    def extensions(self) -> None:
        """Each app's own part of the demo, in the order of ``DEMO_EXTENSIONS``."""
        for extension in DEMO_EXTENSIONS:
            self.extension_lines += extension.seed(self)

    # -- configuration -----------------------------------------------------------------------

    def setup(self) -> None:
        """Business hours, SLA policies, teams, agents and leads."""
        hours = {}
        for key, spec in BUSINESS_HOURS.items():
            # Configuration rows: no service owns them (they are edited in the admin).
            hours[key], _ = BusinessHours.objects.update_or_create(
                name=spec["name"],
                defaults={
                    k: spec[k] for k in ("timezone", "weekly", "holiday_country", "holiday_subdiv")
                },
            )
        for slug, name, _brand in texts.TEAMS:
            self.teams[slug] = team_ensure(
                name=name, slug=slug, email=f"{slug}-team@{EMAIL_DOMAIN}"
            )
        ladder = ladder_validate(LADDER)
        for p in POLICIES:
            SlaPolicy.objects.update_or_create(
                name=p.name,
                defaults={
                    "position": p.position,
                    "active": True,
                    "kind": p.kind,
                    "channel": p.channel,
                    "priority": p.priority,
                    "team": self.teams[p.team] if p.team else None,
                    "first_reply_minutes": p.first,
                    "next_reply_minutes": p.next,
                    "resolution_minutes": p.resolution,
                    "business_hours": hours[p.hours] if p.hours else None,
                    "escalation": ladder,
                },
            )
        # The admin sees every team by its role (people.selectors.visible_team_ids), not by
        # membership: a member of every team would be counted as one of each team's agents on
        # the scorecards, the pay statements and the practice progress.
        self.users["demo"] = agent_create(
            username="demo",
            password=PASSWORD,
            teams=[],
            role=Role.ADMIN,
            email=f"demo@{EMAIL_DOMAIN}",
            first_name="Demo",
            last_name="Admin",
            update=True,
        ).user
        for slug, team in self.teams.items():
            first, last = texts.AGENT_NAMES[slug]
            self.users[slug] = agent_create(
                username=slug,
                password=PASSWORD,
                teams=[team],
                role=Role.AGENT,
                email=f"{slug}@{EMAIL_DOMAIN}",
                first_name=first,
                last_name=last,
                update=True,
            ).user
            first, last = texts.LEAD_NAMES[slug]
            lead = agent_create(
                username=f"{slug}-lead",
                password=PASSWORD,
                teams=[team],
                role=Role.LEAD,
                email=f"{slug}-lead@{EMAIL_DOMAIN}",
                first_name=first,
                last_name=last,
                update=True,
            ).user
            self.users[f"{slug}-lead"] = lead
            team_set_lead(team=team, lead=lead)

    # -- customers ---------------------------------------------------------------------------

    def people(self) -> None:
        for person in self.plan.people:
            keys = [
                identity_normalize(kind, value, network)
                for kind, network, value in person.identities
            ]
            customer = customer_resolve(
                identities=keys, now=person.since, display_name=person.name
            ).customer
            customer_update(
                customer=customer, timezone=person.timezone, attributes=dict(person.attributes)
            )
            self.customers[person.key] = customer

    # -- the cases, in time order with the sweeper running -------------------------------------

    def history(self) -> None:
        steps = self.plan.steps
        if not steps:
            return
        first = steps[0].at
        tick = first - timedelta(minutes=first.minute % 30) + SWEEP_EVERY
        handlers: dict[str, Callable[[Step], None]] = {
            "case": self.do_case,
            "message": self.do_message,
            "loop": self.do_loop,
            "close": self.do_close,
            "close_reply": self.do_close_reply,
            "pause": self.do_pause,
            "status": self.do_status,
        }
        due: datetime | None | bool = True  # True: unknown since the last write
        for step in steps:
            while tick <= step.at:
                if due is True:
                    due = self.next_rung_at()
                if due is not None and due <= tick:  # type: ignore[operator]
                    loops_sweep(now=tick)
                    due = True
                tick += SWEEP_EVERY
            handlers[step.action](step)
            due = True

    def next_rung_at(self) -> datetime | None:
        """When the sweeper next has work: skips the sweeps that would find nothing."""
        return Loop.objects.filter(state=LoopState.OPEN, next_check_at__isnull=False).aggregate(
            at=Min("next_check_at")
        )["at"]

    def user(self, username: str) -> Any:
        return self.users[username] if username else None

    def do_case(self, step: Step) -> None:
        self.cases[step.case] = case_create(
            customer=self.customers[step.customer],
            subject=step.title,
            now=step.at,
            team=self.teams[step.team],
            assignee=self.user(step.actor),
            priority=step.priority or "normal",
            channel=step.channel,
        )

    def do_message(self, step: Step) -> None:
        customer, case = self.customers[step.customer], self.cases.get(step.case)
        if (
            step.channel == "chat"
            and step.direction == "inbound"
            and self.chats is not None
            and self.chats.receive(
                customer=customer, case=case, body=step.body, at=step.at, external_id=step.source_id
            )
        ):
            return
        interaction_record(
            customer=self.customers[step.customer],
            channel=step.channel,
            direction=step.direction,
            occurred_at=step.at,
            now=step.at,
            body=step.body,
            case=self.cases.get(step.case),
            actor=self.user(step.actor),
            data=step.data,
            source_id=step.source_id,
        )

    def do_loop(self, step: Step) -> None:
        self.loops[step.loop] = loop_open(
            customer=self.customers[step.customer],
            case=self.cases.get(step.case),
            kind=step.kind,
            title=step.title,
            now=step.at,
            team=self.teams[step.team],
            assignee=self.user(step.actor),
            due_at=step.due_at,
            visible_to_customer=step.visible,
            actor=self.user(step.opener),
            reason=step.reason,
        )

    def do_close(self, step: Step) -> None:
        loop = self.loops.pop(step.loop)
        loop_close(loop=loop, actor=self.user(step.actor), reason=step.reason, now=step.at)

    def reply_loop(self, step: Step) -> Loop:
        open_reply = [
            lp for lp in loops_open_on_case(case=self.cases[step.case]) if lp.kind == LoopKind.REPLY
        ]
        if not open_reply:
            raise AssertionError(f"demo plan: no open reply loop on {step.case} at {step.at}")
        return open_reply[0]

    def do_close_reply(self, step: Step) -> None:
        loop_close(
            loop=self.reply_loop(step), actor=self.user(step.actor), reason=step.reason, now=step.at
        )

    def do_pause(self, step: Step) -> None:
        loop_pause(
            loop=self.reply_loop(step), actor=self.user(step.actor), reason=step.reason, now=step.at
        )

    def do_status(self, step: Step) -> None:
        self.cases[step.case] = case_set_status(
            case=self.cases[step.case], status=step.status, actor=self.user(step.actor), now=step.at
        )

    # -- activity without a case, in bulk ------------------------------------------------------

    def background(self) -> None:
        """Statements, page views, bot chats: one ingest per day of history (recorded that day)."""
        by_day: dict[Any, list[InteractionIn]] = defaultdict(list)
        last_at: dict[Any, datetime] = {}
        for c in self.plan.chatter:
            day = c.at.date()
            by_day[day].append(
                InteractionIn(
                    channel=c.channel,
                    direction=c.direction,
                    occurred_at=c.at,
                    body=c.body,
                    source_id=c.source_id,
                    customer_id=self.customers[c.customer].pk,
                    data=c.data,
                )
            )
            last_at[day] = c.at
        for day, items in by_day.items():
            for i in range(0, len(items), INGEST_BATCH):
                interactions_ingest(items=items[i : i + INGEST_BATCH], now=last_at[day])

    # -- what was made -----------------------------------------------------------------------

    def report(self) -> SeedReport:
        plan = self.plan
        status = {s: 0 for s in ("open", "pending", "solved", "closed")}
        for s in Case.objects.order_by().values_list("status", flat=True):
            status[s] = status.get(s, 0) + 1
        loops = Loop.objects.all()
        return SeedReport(
            seed=plan.seed,
            customers=sum(1 for p in plan.people if not p.key.startswith("story-")),
            counts={
                "customers": Customer.objects.filter(merged_into__isnull=True).count(),
                "cases": sum(status.values()),
                "interactions": Interaction.objects.count(),
                "loops": loops.count(),
                "open_loops": loops.filter(state=LoopState.OPEN).count(),
                "breached": loops.filter(breached_at__isnull=False).count(),
            },
            case_status=status,
            sla_states=loop_state_counts(loops, now=self.now),
            stories={
                name: (self.cases[key].ref, what) for name, (key, what) in plan.stories.items()
            },
            extra=self.extension_lines,
        )
