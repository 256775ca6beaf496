"""The feedback app's part of the seeded demo: ninety days of survey answers, the recovery
loops their detractors opened, and the contact-budget scene.

Everything goes through the services, at the time it happens (``now=`` in the past), in
time order, so the one contact budget decides each ask against what came before it:

1. Three surveys of the demo's teams and the reasons answers are tagged with:
   *Support satisfaction* (CSAT, front office, asked in the customer's portal when any
   team's case is solved), *Delivery and visit effort* (CES, field service, portal, when a
   visit loop closes) and *Relationship NPS* (NPS, membership, by email, asked by hand).
2. History: a CSAT ask on every case solved in the last ninety days (a CES ask on the field
   team's), and one NPS email to each customer with an address, on a day of the last ninety.
   The ``survey`` contact rule suppresses some (one survey a week; ask once), kept with
   their reason. About half are answered, hours later; comments name reasons, which tag
   the answer (``reason_suggest``). A detractor opens a recovery loop on the case's team
   (the survey's without a case), due two business days later: most are closed with an
   outcome (called back, fixed, refunded, could not reach; some ask again), some after
   their deadline (breached, then closed), some never (breached); the last days' are open.
   The worker's daily runs are played too: unanswered email invites are reminded once,
   three days on, under the same budget, and some reminders bring an answer.
3. The contact-budget scene ("the survey caller rang three times"): Grace Adeyemi got the
   field team's effort survey when her sofa was delivered yesterday (its visit loop closed), the cards
   agent rang her three times today about her card, unanswered; when the front office
   solved her statement question this afternoon, its survey was suppressed, with the
   rule's reason, on her customer page.

Idempotent: once the surveys have invites the history is not played again, and the scene's
rows have fixed keys.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count

from lastmile.cases.models import Case
from lastmile.cases.services import case_create, case_set_status
from lastmile.channels.contact import timezone_pick
from lastmile.channels.services import outbox_deliver
from lastmile.core.errors import DomainError
from lastmile.customers.identities import identity_normalize
from lastmile.customers.models import Identity
from lastmile.customers.services.customers import customer_resolve, customer_update
from lastmile.customers.services.timeline import interaction_record
from lastmile.feedback.models import (
    Invite,
    InviteChannel,
    InviteState,
    ReasonTag,
    RecoveryOutcome,
    ReminderState,
    Response,
    Survey,
    band_of,
)
from lastmile.feedback.selectors import INVITE_KEY, REMINDER_KEY
from lastmile.feedback.services import (
    invite_create,
    invites_follow,
    invites_remind,
    reason_save,
    recovery_close,
    reminders_follow,
    response_record,
    survey_create,
)
from lastmile.loops.models import Loop, LoopKind, LoopState
from lastmile.loops.services import loop_close, loop_open, loops_sweep

DAYS = 90
CSAT, CES, NPS = "Support satisfaction", "Delivery and visit effort", "Relationship NPS"
SURVEYS: dict[str, dict[str, Any]] = {
    CSAT: {
        "kind": "csat",
        "team": "front",
        "trigger": "case_solved",
        "all_teams": True,
        "channel": "portal",
        "wording": {
            "en": {"question": "How satisfied are you with how we handled your request?"},
            "fr": {
                "question": "Êtes-vous satisfait de la façon dont nous avons traité votre demande ?"
            },
        },
    },
    CES: {
        "kind": "ces",
        "team": "field",
        "trigger": "loop_closed",
        "trigger_loop_kind": "visit",
        "channel": "portal",
        "wording": {"en": {"question": "How easy was it to get your delivery or visit done?"}},
    },
    NPS: {
        "kind": "nps",
        "team": "membership",
        "trigger": "manual",
        "channel": "email",
        "wording": {"en": {"subject": "One question: would you recommend Lastmile?"}},
    },
}
# The reasons, in the order ``reason_suggest`` tries them: the first whose keyword is in
# the comment tags the answer.
REASONS = [
    ("Problem not fixed", "not fixed,still broken,still not,again,same problem"),
    ("Slow to answer", "wait,slow,took ages,days to,no reply,hold"),
    ("Delivery or visit late", "late,delay,missed,window,no-show"),
    ("Fees and charges", "fee,charge,refund,price,cost"),
    ("App and website", "app,website,online,login,password"),
    ("Friendly, helpful staff", "helpful,friendly,kind,polite,lovely"),
    ("Quick and easy", "quick,easy,fast,smooth,simple"),
]
COMMENTS = {
    "detractor": [
        "Still not fixed after three calls, and nobody called back.",
        "I had to wait four days for a reply.",
        "The engineer missed the window and nobody told me.",
        "You charged me a fee I was told I would not pay.",
        "The app logged me out again and I could not finish.",
        "Took ages on hold and then the line dropped.",
        "The delivery was late and the driver was rude.",
        "",
    ],
    "passive": [
        "Fine in the end but it was slow.",
        "OK, though the website was confusing.",
        "Sorted, but I had to chase it.",
        "",
        "",
    ],
    "promoter": [
        "Very helpful, thank you.",
        "Quick and easy, sorted in one call.",
        "Friendly driver, on time.",
        "Lovely staff at reception.",
        "",
        "",
        "",
    ],
}
# Scores drawn for each kind (weights by score, lowest first).
SCORES = {
    "nps": (range(0, 11), [3, 2, 2, 3, 3, 5, 7, 12, 16, 22, 25]),
    "csat": (range(1, 6), [7, 7, 14, 34, 38]),
    "ces": (range(1, 8), [26, 24, 20, 12, 8, 6, 4]),
}
ANSWER_RATE = {"nps": 0.5, "csat": 0.65, "ces": 0.65}
OUTCOMES = [
    (RecoveryOutcome.CALLED_BACK, 40, "Apologised and explained what went wrong."),
    (RecoveryOutcome.FIXED, 25, "Fixed it with them on the phone."),
    (RecoveryOutcome.REFUNDED, 15, "Refunded the fee as a goodwill gesture."),
    (RecoveryOutcome.COULD_NOT_REACH, 20, "Two calls and an email, no answer."),
]

SCENE_NAME, SCENE_EMAIL, SCENE_PHONE = (
    "Grace Adeyemi",
    "grace.adeyemi@example.co.uk",
    "+447723456789",
)
LONDON = ZoneInfo("Europe/London")


@dataclass
class Tally:
    asked: int = 0
    suppressed: int = 0
    responses: int = 0
    closed: int = 0
    closed_late: int = 0
    resurveys: int = 0
    reminded: int = 0
    reminders_suppressed: int = 0
    by_survey: dict[str, int] = field(default_factory=dict)


def seed(seeder: Any) -> list[str]:
    """Seed this app's demo data; return report lines."""
    now: datetime = seeder.now
    if not all(SURVEYS[name]["team"] in seeder.teams for name in SURVEYS):
        return []
    reasons_ensure(now=now - timedelta(days=DAYS + 10))
    surveys = surveys_ensure(seeder.teams, now=now - timedelta(days=DAYS + 10))
    if not Invite.objects.filter(survey__in=surveys.values()).exists():
        _History(seeder, surveys).play()
    scene = contact_budget_scene(seeder, surveys)
    return [*report_lines(surveys, now=now), *scene]


def reasons_ensure(*, now: datetime) -> list[ReasonTag]:
    out = []
    for position, (name, keywords) in enumerate(REASONS):
        found = ReasonTag.objects.filter(name=name).first()
        if found is None:
            found = reason_save(
                reason=ReasonTag(name=name, keywords=keywords, position=(position + 1) * 10),
                actor=None,
                now=now,
            )
        out.append(found)
    return out


def surveys_ensure(teams: dict[str, Any], *, now: datetime) -> dict[str, Survey]:
    out = {}
    for name, spec in SURVEYS.items():
        found = Survey.objects.filter(name=name).first()
        if found is None:
            fields = {**spec, "team": teams[spec["team"]]}
            found = survey_create(actor=None, now=now, name=name, **fields)
        out[name] = found
    return out


# --- ninety days of answers -----------------------------------------------------------------


def _zone(customer: Any) -> ZoneInfo:
    return ZoneInfo(timezone_pick(customer.timezone, default=settings.TIME_ZONE))


def daytime(at: datetime, zone: ZoneInfo) -> datetime:
    """``at``, or the next moment from 10:00 to 18:59 in ``zone`` (surveys are not sent at
    night: the survey rule would hold them)."""
    local = at.astimezone(zone)
    if local.hour < 10:
        local = local.replace(hour=10, minute=local.minute % 30)
    elif local.hour >= 19:
        local = (local + timedelta(days=1)).replace(hour=10, minute=local.minute % 30)
    return local.astimezone(UTC)


@dataclass(order=True)
class _Event:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    data: dict[str, Any] = field(compare=False, default_factory=dict)


class _History:
    """The asks of the last ninety days, answers and recoveries, played in time order."""

    def __init__(self, seeder: Any, surveys: dict[str, Survey]) -> None:
        self.seeder = seeder
        self.now: datetime = seeder.now
        self.surveys = surveys
        self.rng = random.Random(f"feedback-{seeder.plan.seed}")
        self.events: list[_Event] = []
        self.seq = 0
        self.tally = Tally()
        self.agents = {team.pk: seeder.users.get(slug) for slug, team in seeder.teams.items()}

    def push(self, at: datetime, kind: str, **data: Any) -> None:
        self.seq += 1
        heapq.heappush(self.events, _Event(at, self.seq, kind, data))

    def play(self) -> Tally:
        self.plan_asks()
        while self.events:
            event = heapq.heappop(self.events)
            getattr(self, f"on_{event.kind}")(event.at, **event.data)
        invites_follow(now=self.now)
        reminders_follow(now=self.now)
        loops_sweep(now=self.now)
        return self.tally

    def plan_asks(self) -> None:
        start = self.now - timedelta(days=DAYS)
        latest = self.now - timedelta(minutes=30)
        # The worker's reminder run, once a day at 11:00 (London): unanswered email invites
        # are reminded once, three days after they went out, under the same budget.
        day = start.astimezone(LONDON).replace(hour=11, minute=0, second=0, microsecond=0)
        while day.astimezone(UTC) < latest:
            self.push(day.astimezone(UTC), "remind")
            day = (day + timedelta(days=1)).replace(tzinfo=None).replace(tzinfo=LONDON)
        cases = (
            Case.objects.filter(solved_at__gte=start, solved_at__lt=latest)
            .select_related("team", "customer")
            .order_by("solved_at", "pk")
        )
        story_ids = {c.pk for key, c in self.seeder.customers.items() if key.startswith("story")}
        for case in cases:
            customer = case.customer
            if customer.merged_into_id is not None:
                continue
            at = daytime(
                case.solved_at + timedelta(minutes=self.rng.randint(20, 180)), _zone(customer)
            )
            if at >= latest:
                continue
            field_team = case.team is not None and case.team.slug == "field"
            survey = self.surveys[CES if field_team else CSAT]
            self.push(at, "ask", survey=survey, customer=customer, case=case)
        with_email = set(
            Identity.objects.filter(
                kind="email", customer_id__in=[c.pk for c in self.seeder.customers.values()]
            ).values_list("customer_id", flat=True)
        )
        for customer in self.seeder.customers.values():
            if customer.pk in story_ids or customer.merged_into_id is not None:
                continue
            if customer.pk not in with_email:
                continue
            since = max(customer.created_at, start) + timedelta(days=1)
            if since >= latest - timedelta(hours=2):
                continue
            span = (latest - since).total_seconds()
            at = daytime(since + timedelta(seconds=self.rng.uniform(0, span)), _zone(customer))
            if at < latest:
                self.push(at, "ask", survey=self.surveys[NPS], customer=customer, case=None)

    def on_ask(
        self, at: datetime, *, survey: Survey, customer: Any, case: Any, key: str = ""
    ) -> Invite | None:
        key = key or (f"case_solved:{case.pk}" if case is not None else f"demo:{customer.pk}")
        try:
            invite, _token = invite_create(
                survey=survey,
                customer=customer,
                channel=survey.channel,
                case=case,
                key=key,
                now=at,
            )
        except DomainError:  # no address on the channel, or asked for this already
            return None
        self.tally.asked += 1
        if invite.state == InviteState.SUPPRESSED:
            self.tally.suppressed += 1
            return invite
        if invite.channel == InviteChannel.EMAIL:
            outbox_deliver(now=max(at, invite.held_until or at), keys=[f"{INVITE_KEY}{invite.pk}"])
        recent = at >= self.now - timedelta(hours=36)
        if recent or self.rng.random() < ANSWER_RATE[survey.kind]:
            delay = timedelta(minutes=self.rng.choice([12, 25, 40, 75, 150, 400, 1300, 2900]))
            if recent:
                delay = timedelta(minutes=self.rng.randint(15, 90))
            answered = at + delay
            if answered < self.now - timedelta(minutes=5):
                # The last day and a half's answers are unhappy ones: open recoveries.
                self.push(answered, "answer", invite=invite, unhappy=recent)
        return invite

    def score(self, kind: str, unhappy: bool) -> int:
        scores, weights = SCORES[kind]
        if unhappy:
            return {"nps": self.rng.randint(2, 5), "csat": 2, "ces": 6}[kind]
        return self.rng.choices(list(scores), weights)[0]

    def on_answer(self, at: datetime, *, invite: Invite, unhappy: bool = False) -> None:
        kind = invite.survey.kind
        score = self.score(kind, unhappy)
        comment = self.rng.choice(COMMENTS[band_of(kind, score)])
        if unhappy and not comment:
            comment = COMMENTS["detractor"][0]
        source = "portal" if invite.channel == InviteChannel.PORTAL else "link"
        try:
            response = response_record(
                invite=invite, score=score, comment=comment, now=at, source=source
            )
        except DomainError:  # expired or suppressed meanwhile
            return
        self.tally.responses += 1
        self.tally.by_survey[invite.survey.name] = (
            self.tally.by_survey.get(invite.survey.name, 0) + 1
        )
        if response.recovery_loop_id is None:
            return
        loop = response.recovery_loop
        due = (loop.due_at if loop is not None else None) or at + timedelta(days=2)
        if due > self.now or unhappy:
            return  # still open, within its deadline
        pick = self.rng.random()
        if pick < 0.62:
            closed = at + (due - at) * self.rng.uniform(0.1, 0.8)
            self.push(closed, "close", response=response, late=False)
        elif pick < 0.8:
            closed = due + timedelta(hours=self.rng.randint(2, 40))
            if closed < self.now:
                self.push(closed, "close", response=response, late=True)
        # else: never closed; the sweep breaches it

    def on_remind(self, at: datetime) -> None:
        invites_follow(now=at)  # the worker's every-minute run: sent invites are marked sent
        queued, suppressed = invites_remind(now=at)
        self.tally.reminded += queued
        self.tally.reminders_suppressed += suppressed
        if not queued:
            return
        ids = list(
            Invite.objects.filter(reminder_state=ReminderState.QUEUED).values_list("pk", flat=True)
        )
        outbox_deliver(now=at, keys=[f"{REMINDER_KEY}{pk}" for pk in ids])
        for invite in Invite.objects.filter(pk__in=ids).select_related("survey"):
            if self.rng.random() < 0.3:  # a reminder brings some answers
                answered = at + timedelta(minutes=self.rng.choice([20, 90, 300, 1400]))
                if answered < self.now - timedelta(minutes=5):
                    self.push(answered, "answer", invite=invite)

    def on_close(self, at: datetime, *, response: Response, late: bool) -> None:
        if late:
            loops_sweep(now=at)  # the worker ran meanwhile: the breach is on the loop's trail
        outcomes, weights = [o[0] for o in OUTCOMES], [o[1] for o in OUTCOMES]
        outcome = self.rng.choices(outcomes, weights)[0]
        note = next(n for o, _, n in OUTCOMES if o == outcome)
        loop = Loop.objects.only("team_id").get(pk=response.recovery_loop_id)
        agent = self.agents.get(loop.team_id)
        resurvey = outcome == RecoveryOutcome.FIXED and self.rng.random() < 0.5
        try:
            _response, invite, _token = recovery_close(
                response=response,
                outcome=outcome,
                actor=agent,
                note=note,
                resurvey=resurvey,
                now=at,
            )
        except DomainError:
            return
        self.tally.closed += 1
        self.tally.closed_late += late
        if invite is not None:
            self.tally.resurveys += 1
            self.tally.asked += 1
            if invite.state == InviteState.SUPPRESSED:
                self.tally.suppressed += 1
            elif self.rng.random() < 0.5:
                answered = at + timedelta(hours=self.rng.randint(2, 30))
                if answered < self.now:
                    self.push(answered, "answer", invite=invite)


# --- the contact-budget scene ---------------------------------------------------------------


def _scene_day(now: datetime) -> datetime:
    """Midnight (London) of the scene's "today": the last day whose 15:00 has passed."""
    local = now.astimezone(LONDON)
    day = local if local.hour >= 15 else local - timedelta(days=1)
    return day.replace(hour=0, minute=0, second=0, microsecond=0)


def contact_budget_scene(seeder: Any, surveys: dict[str, Survey]) -> list[str]:
    """Three teams, one customer: a delivery survey yesterday, three unanswered calls today,
    and today's case survey suppressed by the one contact budget."""
    now: datetime = seeder.now
    field_team, cards, front = (seeder.teams.get(s) for s in ("field", "cards", "front"))
    caller, front_agent, driver = (seeder.users.get(s) for s in ("cards", "front", "field"))
    if None in (field_team, cards, front, caller, front_agent, driver):
        return []
    today = _scene_day(now)

    def at(days: int, hour: int, minute: int = 0) -> datetime:
        local = (today - timedelta(days=days)).replace(hour=hour, minute=minute)
        return local.replace(tzinfo=None).replace(tzinfo=LONDON).astimezone(UTC)

    grace = customer_resolve(
        identities=[
            identity_normalize("email", SCENE_EMAIL),
            identity_normalize("phone", SCENE_PHONE),
        ],
        display_name=SCENE_NAME,
        now=at(200, 12),
    ).customer
    if Invite.objects.filter(customer=grace, survey__in=surveys.values()).count() < 2:
        customer_update(customer=grace, timezone="Europe/London", attributes={"language": "en"})
        # Three days ago: a sofa ordered, delivered yesterday morning by the field team.
        sofa = case_create(
            customer=grace,
            subject="Sofa delivery, 3-seater",
            team=field_team,
            channel="web",
            now=at(3, 10),
        )
        interaction_record(
            customer=grace,
            channel="web",
            direction="inbound",
            occurred_at=at(3, 10),
            now=at(3, 10),
            case=sofa,
            body="Please deliver the sofa in a morning slot: I work from home then.",
            source_id=f"demo-scene-{grace.pk}-sofa",
        )
        interaction_record(
            customer=grace,
            channel="email",
            direction="outbound",
            occurred_at=at(3, 11),
            now=at(3, 11),
            case=sofa,
            actor=driver,
            body="Booked for tomorrow 08:00-10:00. The driver will call ahead.",
            source_id=f"demo-scene-{grace.pk}-sofa-reply",
        )
        # The card question and the statement question, both from two days ago.
        card = case_create(
            customer=grace,
            subject="Card declined at the pharmacy",
            team=cards,
            channel="email",
            now=at(2, 9, 40),
        )
        statement = case_create(
            customer=grace,
            subject="Where is my October statement?",
            team=front,
            channel="email",
            now=at(2, 9, 45),
        )
        for n, (case, body) in enumerate(
            [
                (card, "My card was declined at the pharmacy this morning. Is it blocked?"),
                (statement, "I can't find my October statement in the app."),
            ]
        ):
            interaction_record(
                customer=grace,
                channel="email",
                direction="inbound",
                occurred_at=at(2, 9, 40 + 5 * n),
                now=at(2, 9, 40 + 5 * n),
                case=case,
                body=body,
                source_id=f"demo-scene-{grace.pk}-ask-{n}",
            )
        interaction_record(
            customer=grace,
            channel="email",
            direction="outbound",
            occurred_at=at(2, 11),
            now=at(2, 11),
            case=statement,
            actor=front_agent,
            body="We're looking into it and will come back to you.",
            source_id=f"demo-scene-{grace.pk}-statement-ack",
        )
        # Yesterday: the sofa arrives in its window; the delivery's visit loop closes and
        # the field team's effort survey (CES, on visits closed) asks in her portal.
        visit = loop_open(
            customer=None,
            case=sofa,
            kind=LoopKind.VISIT,
            title="Deliver the 3-seater sofa",
            team=field_team,
            due_at=at(1, 12),  # the end of its 08:00-12:00 window
            now=at(3, 11),
        )
        loop_close(
            loop=visit, actor=driver, reason="Delivered and placed, 09:50", now=at(1, 10, 30)
        )
        # Today: the cards agent rings three times; she does not pick up.
        for n, (hour, minute) in enumerate([(10, 5), (12, 10), (14, 20)]):
            interaction_record(
                customer=grace,
                channel="phone",
                direction="outbound",
                occurred_at=at(0, hour, minute),
                now=at(0, hour, minute),
                case=card,
                actor=caller,
                body=f"Called about the declined card (attempt {n + 1}): no answer, voicemail left.",
                source_id=f"demo-scene-{grace.pk}-call-{n}",
            )
        # This afternoon the front office sends the statement and solves the case: the
        # CSAT survey would ask again, and the one contact budget says no.
        interaction_record(
            customer=grace,
            channel="email",
            direction="outbound",
            occurred_at=at(0, 14, 35),
            now=at(0, 14, 35),
            case=statement,
            actor=front_agent,
            body="Your October statement is attached; it is also under Documents in the app.",
            source_id=f"demo-scene-{grace.pk}-statement",
        )
        case_set_status(case=statement, status="solved", actor=front_agent, now=at(0, 14, 40))
    invites = list(
        Invite.objects.filter(customer=grace)
        .select_related("survey", "case")
        .order_by("created_at")
    )
    # The time with its zone (GMT or BST, where the teams work), then the survey by name and
    # kind: the kind alone after the time read as a zone ("10:30 CES").
    said = "; ".join(
        f"{i.created_at.astimezone(LONDON):%a %d %b %H:%M %Z}: {i.survey.name} "
        f"({i.survey.kind.upper()}) on {i.case.ref if i.case else 'no case'}, {i.state}"
        + (f" — {i.reason}" if i.state == InviteState.SUPPRESSED else "")
        for i in invites
    )
    return [
        f"  contact budget: {grace} (customer {grace.pk}, /customers/{grace.pk}/): the field "
        f"team's delivery survey yesterday, three unanswered calls from the cards agent today, "
        f"the front office's case survey: {said}"
    ]


# --- the report -----------------------------------------------------------------------------


def report_lines(surveys: dict[str, Survey], *, now: datetime) -> list[str]:
    ids = [s.pk for s in surveys.values()]
    invites = dict(
        Invite.objects.filter(survey_id__in=ids)
        .values_list("state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    reminders = dict(
        Invite.objects.filter(survey_id__in=ids)
        .exclude(reminder_state="")
        .values_list("reminder_state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    responses = Response.objects.filter(survey_id__in=ids)
    loops = Loop.objects.filter(
        pk__in=responses.exclude(recovery_loop=None).values("recovery_loop_id")
    )
    open_loops = loops.filter(state=LoopState.OPEN)
    per_survey = dict(responses.values_list("survey__name").annotate(n=Count("pk")).order_by())
    tagged = responses.exclude(reason=None).count()
    return [
        "feedback:",
        f"  {responses.count():,} survey answers over {DAYS} days ("
        + ", ".join(f"{name} {per_survey.get(name, 0):,}" for name in surveys)
        + f"); {tagged:,} tagged with a reason",
        f"  invites {sum(invites.values()):,}: "
        + ", ".join(f"{state} {n:,}" for state, n in sorted(invites.items()))
        + "; reminders "
        + (", ".join(f"{state} {n:,}" for state, n in sorted(reminders.items())) or "none"),
        f"  detractors' recovery loops {loops.count():,}: closed {loops.filter(state=LoopState.CLOSED).count():,}"
        f" ({loops.filter(state=LoopState.CLOSED, breached_at__isnull=False).count():,} after their deadline),"
        f" open {open_loops.filter(breached_at=None).count():,},"
        f" breached and open {open_loops.filter(breached_at__isnull=False).count():,}",
        "  /feedback/reasons/ (reasons by team and week, open recovery loops), "
        "GET /api/v1/feedback/summary; recovery loops in each team's inbox",
    ]
