"""Thirteen weeks of history for two demo teams, so that the dashboard's charts have a shape:
Cards improving week by week, Membership slipping.

The core demo's stories cover the last thirty days; before them the dashboard's weeks would
be empty. This part plays, through the services and at the time each thing happens (``now=``
in the past), in time order, for each of the thirteen weeks up to ``now``:

- customers writing in by email on weekdays during office hours: a case for the team's
  agent and the customer's message, which opens its reply loop with the "Email — normal"
  policy's deadline (business hours). The words are chosen from a pool whose mix follows
  the team's trend, and the sentiment model scores them as it scores any message;
- the agent's reply by email, which closes the loop: before its deadline, or after it — the
  worker's sweep runs first at that moment and marks the breach (and escalates), as it
  would have. The share answered late follows the trend: Cards from 50 % late in the
  first week to 6 % in the last, Membership from 5 % to 65 %, faster in the last weeks;
- on some cases the agent's promise (``promise_record``), kept the next working day, or
  broken (``promise_break``: the lead's follow-up loop, closed by the lead an hour and a half
  later); Cards breaks fewer week by week, Membership more;
- the case solved, which asks the customer the Support satisfaction survey when the
  feedback part of the demo made it; about half answer, happier week by week for Cards and
  less happy for Membership (3 to 5: no detractor, so no recovery loop).

Deterministic (``random.Random`` of the demo's seed); a few hundred loops. Nothing is
planned at or after ``now``: a reply still to come leaves its loop open, as a week in
progress has. Run it after the feedback part (its survey asks when a case is solved) and
before the scorecards part (which builds the rollups over it). Idempotent: once its
customers exist it adds nothing.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

from lastmile.cases.models import CaseStatus
from lastmile.cases.services import case_create, case_set_status
from lastmile.core.errors import DomainError
from lastmile.customers.identities import identity_normalize
from lastmile.customers.models import Identity
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.timeline import interaction_record
from lastmile.feedback.models import Invite, InviteState, SurveyKind
from lastmile.feedback.services import response_record
from lastmile.loops.models import Loop, LoopKind, LoopState
from lastmile.loops.selectors import loops_open_on_case
from lastmile.loops.services import loop_close, loops_sweep
from lastmile.promises.services import promise_break, promise_keep, promise_record

LONDON = ZoneInfo("Europe/London")
WEEKS = 13
DOMAIN = "history.demo.lastmile.local"
MARGIN = timedelta(minutes=10)  # nothing is planned this close to ``now``


@dataclass(frozen=True)
class Course:
    """One team's thirteen weeks: each figure goes from its first week's value to its last's,
    along ``(k / 12) ** power`` for week ``k`` (1: even steps; 2: slow at first, then faster,
    so that the last weeks stand out from the ones before them, as the dashboard's
    worsening rule compares them)."""

    slug: str
    story: str
    cases: tuple[int, int]  # cases a week, first and last week
    late: tuple[float, float]  # share of replies sent after the deadline
    promises: tuple[int, int]  # promises a week
    broken: tuple[float, float]  # share of them broken
    happy: tuple[float, float]  # share of survey answers of 4 or 5
    negative: tuple[float, float]  # share of unhappy messages
    positive: tuple[float, float]  # share of happy messages
    subjects: tuple[str, ...]
    promise_texts: tuple[str, ...]
    power: float = 1.0

    def at(self, name: str, k: int) -> float:
        first, last = getattr(self, name)
        return first + (last - first) * (k / (WEEKS - 1)) ** self.power


COURSES = (
    Course(
        slug="cards",
        story="improving: replies on time from 50 % to 94 % of the week's cases, fewer "
        "promises broken, happier answers",
        cases=(10, 10),
        late=(0.5, 0.06),
        promises=(3, 3),
        broken=(0.67, 0.0),
        happy=(0.55, 0.92),
        negative=(0.55, 0.1),
        positive=(0.1, 0.55),
        subjects=(
            "Card declined at the till",
            "Replacement card not arrived",
            "Contactless limit question",
            "Card blocked after travel",
            "PIN reminder request",
            "Chargeback for a cancelled order",
        ),
        promise_texts=(
            "We'll post your replacement card by first-class mail",
            "We'll refund the duplicated card fee",
            "We'll lift the travel block today",
        ),
    ),
    Course(
        slug="membership",
        story="slipping: replies on time from 95 % to 35 % as the cases grow from 8 to 24 "
        "a week, more promises broken, less happy answers",
        cases=(8, 24),
        late=(0.05, 0.65),
        promises=(2, 5),
        broken=(0.0, 0.8),
        happy=(0.92, 0.45),
        negative=(0.1, 0.55),
        positive=(0.55, 0.1),
        subjects=(
            "Points missing from my stay",
            "Gold tier renewal",
            "Upgrade voucher not applied",
            "Partner points transfer",
            "Lounge access with my card",
            "Membership number merge",
        ),
        promise_texts=(
            "We'll credit the missing points within two days",
            "We'll reissue the upgrade voucher",
            "We'll merge your two membership numbers",
        ),
        power=2.0,
    ),
)

MESSAGES = {
    "negative": (
        "This is the third time I have written and still nothing. Really disappointed.",
        "Terrible service, I am fed up waiting for an answer.",
        "Nobody has fixed this and I am very annoyed. Awful.",
        "I am angry: you promised this last week and it never happened.",
    ),
    "neutral": (
        "Could you tell me where this stands, please?",
        "I would like to check the status of my request.",
        "Please let me know what you need from me.",
        "Following up on my earlier message about this.",
    ),
    "positive": (
        "Thanks so much, the last person I spoke to was brilliant. One more question.",
        "Great service as always, thank you! Just a quick question.",
        "Lovely to deal with you, really appreciate the help.",
        "Thank you, that was quick and easy. Happy with it.",
    ),
}
REPLIES = (
    "Thanks for writing in — I've looked into it and here is where it stands.",
    "Sorry for the trouble. I've sorted it on our side; details below.",
    "Thanks for your patience. Here is what happens next.",
)
BREAK_REASONS = (
    "the back office did not process it in time",
    "the partner did not confirm",
    "we ran out of time before the cut-off",
)


def seed(seeder: Any) -> list[str]:
    teams, users = seeder.teams, seeder.users
    courses = [
        c for c in COURSES if c.slug in teams and c.slug in users and f"{c.slug}-lead" in users
    ]
    if not courses:
        return ["history: the Cards and Membership teams are missing; no history seeded"]
    if Identity.objects.filter(kind="email", value__endswith="@" + DOMAIN).exists():
        return ["history: there already; nothing added"]
    rng = random.Random(getattr(getattr(seeder, "plan", None), "seed", 42) * 7919 + 13)
    play = _Play(seeder=seeder, rng=rng)
    for course in courses:
        play.plan(course)
    play.run()
    lines = ["history: 13 weeks for two teams (the dashboard's trends)"]
    for course in courses:
        t = play.tally[course.slug]
        lines.append(
            f"  {teams[course.slug].name:<16} {course.story}: {t.cases} cases, "
            f"{t.late} replied late, {t.promises} promises ({t.broken} broken), "
            f"{t.answers} survey answers"
        )
    return lines


@dataclass
class _Tally:
    cases: int = 0
    late: int = 0
    promises: int = 0
    broken: int = 0
    answers: int = 0


@dataclass
class _Case:
    course: Course
    week: int
    customer: Any
    opened: datetime
    late: bool
    promise: bool
    broken: bool
    happy: bool | None  # None: no answer
    mood: str
    case: Any = None
    promised: Any = None
    done: list[str] = field(default_factory=list)


class _Play:
    """The history's events in time order (a heap), each carried out by a service."""

    def __init__(self, *, seeder: Any, rng: random.Random) -> None:
        self.seeder = seeder
        self.rng = rng
        self.now: datetime = seeder.now
        self.cutoff = self.now - MARGIN
        self.heap: list[tuple[datetime, int, Callable[[datetime], None]]] = []
        self.seq = count()
        self.tally: dict[str, _Tally] = {}
        self.customers: dict[str, list[Any]] = {}

    def push(self, at: datetime, action: Callable[[datetime], None]) -> None:
        if at < self.cutoff:
            heapq.heappush(self.heap, (at, next(self.seq), action))

    def run(self) -> None:
        while self.heap:
            at, _, action = heapq.heappop(self.heap)
            action(at)

    # -- planning ---------------------------------------------------------------------------

    def plan(self, course: Course) -> None:
        self.tally[course.slug] = _Tally()
        first_week = _monday(self.now) - timedelta(weeks=WEEKS - 1)
        pool = self._customers(course, first_week)
        for k in range(WEEKS):
            monday = first_week + timedelta(weeks=k)
            n = round(course.at("cases", k))
            late = set(self.rng.sample(range(n), round(n * course.at("late", k))))
            promised = self.rng.sample(range(n), min(n, round(course.at("promises", k))))
            broken = set(promised[: round(len(promised) * course.at("broken", k))])
            negative = round(n * course.at("negative", k))
            positive = round(n * course.at("positive", k))
            moods = ["negative"] * negative + ["positive"] * positive
            moods += ["neutral"] * (n - len(moods))
            self.rng.shuffle(moods)
            for i in range(n):
                # Weekdays, office hours in London: the policy's clock is running.
                day = monday + timedelta(days=i % 5)
                minute = self.rng.randrange(9 * 60, 15 * 60 + 30)
                opened = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=LONDON)
                answered = self.rng.random() < 0.55
                c = _Case(
                    course=course,
                    week=k,
                    customer=self.rng.choice(pool),
                    opened=opened.astimezone(UTC),
                    late=i in late,
                    promise=i in promised,
                    broken=i in broken,
                    happy=(self.rng.random() < course.at("happy", k)) if answered else None,
                    mood=moods[i],
                )
                self.push(c.opened, partial(self.open, c))

    def _customers(self, course: Course, since: date) -> list[Any]:
        made = datetime.combine(since - timedelta(days=30), time(10), tzinfo=UTC)
        out = []
        for i in range(40):
            email = f"{course.slug}-{i + 1:02d}@{DOMAIN}"
            out.append(
                customer_resolve(
                    identities=[identity_normalize("email", email)],
                    now=made,
                    display_name=f"{_NAMES[i % len(_NAMES)]} ({course.slug} history)",
                ).customer
            )
        return out

    # -- the events -------------------------------------------------------------------------

    def open(self, c: _Case, at: datetime) -> None:
        team = self.seeder.teams[c.course.slug]
        agent = self.seeder.users[c.course.slug]
        c.case = case_create(
            customer=c.customer,
            subject=self.rng.choice(c.course.subjects),
            now=at,
            team=team,
            assignee=agent,
            channel="email",
        )
        interaction_record(
            customer=c.customer,
            case=c.case,
            channel="email",
            direction="inbound",
            occurred_at=at,
            now=at,
            body=self.rng.choice(MESSAGES[c.mood]),
        )
        loop = self._reply_loop(c)
        self.tally[c.course.slug].cases += 1
        if loop is None or loop.due_at is None:
            return
        span = loop.due_at - at
        if c.late:
            reply = loop.due_at + timedelta(minutes=self.rng.randint(20, 300))
        else:
            reply = at + span * self.rng.uniform(0.15, 0.85)
        self.push(reply, lambda t: self.reply(c, t))

    def _reply_loop(self, c: _Case) -> Loop | None:
        return next(
            (lp for lp in loops_open_on_case(case=c.case) if lp.kind == LoopKind.REPLY), None
        )

    def reply(self, c: _Case, at: datetime) -> None:
        if c.late:
            # The worker's sweep at this moment: the deadline has passed, so it marks the
            # breach (and escalates) before the late reply closes the loop.
            loops_sweep(now=at)
            self.tally[c.course.slug].late += 1
        interaction_record(
            customer=c.customer,
            case=c.case,
            channel="email",
            direction="outbound",
            occurred_at=at,
            now=at,
            body=self.rng.choice(REPLIES),
            actor=self.seeder.users[c.course.slug],
        )
        if c.promise:
            self.promise(c, at)
        else:
            self.push(at + timedelta(minutes=5), lambda t: self.solve(c, t))

    def promise(self, c: _Case, at: datetime) -> None:
        agent = self.seeder.users[c.course.slug]
        settle = _next_workday(at, 11, 0)
        try:
            c.promised = promise_record(
                text=self.rng.choice(c.course.promise_texts),
                terms={},
                due_at=settle + timedelta(hours=6),
                team=self.seeder.teams[c.course.slug],
                channel="email",
                now=at,
                case=c.case,
                made_by=agent,
                actor=agent,
                recorded_via="console",
            )
        except DomainError:  # a policy of another part of the demo stands in the way
            self.push(at + timedelta(minutes=5), lambda t: self.solve(c, t))
            return
        self.tally[c.course.slug].promises += 1
        self.push(settle, lambda t: self.settle(c, t))

    def settle(self, c: _Case, at: datetime) -> None:
        agent = self.seeder.users[c.course.slug]
        if c.broken:
            promise_break(
                promise=c.promised, actor=agent, reason=self.rng.choice(BREAK_REASONS), now=at
            )
            self.tally[c.course.slug].broken += 1
            self.push(at + timedelta(minutes=90), lambda t: self.follow_up(c, t))
        else:
            promise_keep(promise=c.promised, actor=agent, note="done", now=at)
            self.push(at + timedelta(minutes=5), lambda t: self.solve(c, t))

    def follow_up(self, c: _Case, at: datetime) -> None:
        lead = self.seeder.users[f"{c.course.slug}-lead"]
        for loop in loops_open_on_case(case=c.case):
            if loop.kind == LoopKind.FOLLOWUP and loop.state == LoopState.OPEN:
                loop_close(
                    loop=loop, actor=lead, reason="called the customer back, apologised", now=at
                )
        self.push(at + timedelta(minutes=5), lambda t: self.solve(c, t))

    def solve(self, c: _Case, at: datetime) -> None:
        if any(True for _ in loops_open_on_case(case=c.case)):
            return  # something still owed: the case stays open
        case_set_status(
            case=c.case, status=CaseStatus.SOLVED, actor=self.seeder.users[c.course.slug], now=at
        )
        if c.happy is not None:
            delay = timedelta(minutes=self.rng.choice([25, 50, 90, 180, 400]))
            self.push(at + delay, lambda t: self.answer(c, t))

    def answer(self, c: _Case, at: datetime) -> None:
        # The survey the feedback part made asks when a case is solved (if it ran).
        invite = (
            Invite.objects.filter(
                case=c.case,
                survey__kind=SurveyKind.CSAT,
                state__in=[InviteState.QUEUED, InviteState.SENT],
            )
            .select_related("survey")
            .first()
        )
        if invite is None:
            return
        score = self.rng.choice([4, 5, 5]) if c.happy else 3
        try:
            response_record(invite=invite, score=score, now=at, source="portal")
        except DomainError:  # expired or suppressed meanwhile
            return
        self.tally[c.course.slug].answers += 1


def _monday(at: datetime) -> date:
    day = at.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def _next_workday(at: datetime, hh: int, mm: int) -> datetime:
    """``hh:mm`` London time on the next weekday after ``at``'s day."""
    day = at.astimezone(LONDON).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(hh, mm), tzinfo=LONDON).astimezone(UTC)


_NAMES = (
    "Olivia Hughes",
    "Jack Turner",
    "Amelia Wright",
    "Harry Walker",
    "Isla Robinson",
    "Noah Thompson",
    "Ava White",
    "Leo Edwards",
    "Mia Green",
    "Oscar Hall",
    "Freya Wood",
    "George Clarke",
    "Emily Baker",
    "Arthur Lewis",
    "Sophie Young",
    "Theo King",
    "Grace Scott",
    "Alfie Adams",
    "Lily Mitchell",
    "Henry Campbell",
)
