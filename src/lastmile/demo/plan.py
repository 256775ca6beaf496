"""The demo as a plan: every customer, case, message and loop action, with its time.

This module says what a plan is made of (``Person``, ``Step``, ``Chatter``, ``Plan``), the
configuration the seed writes and the plan reasons with (business hours, SLA policies, the
escalation ladder) and the time helpers the stories share. ``stories.build_plan(seed=,
customers=, now=)`` makes one: ``builder.Builder`` holds the plan being made, and each module
under ``stories/`` adds one story to it (``stories/background.py`` the background customers,
whose cases ``stories/scenario.py`` plays from ``texts.SCENARIOS``).

``build_plan`` is pure: no database, no clock. ``random.Random(seed)`` is its only randomness
and every time is relative to ``now``, so the same arguments give the same plan. ``seed.py``
carries the plan out through the services, in time order, so the loops, deadlines, breaches
and escalations in the database are the ones the services compute.

A step that would happen after ``now`` is dropped, and each case's steps are in time order, so
a conversation that is still going on simply stops where ``now`` cuts it: that is where the
open loops come from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lastmile.loops.business_time import Calendar, business_time_between

LONDON = ZoneInfo("Europe/London")
KOLKATA = ZoneInfo("Asia/Kolkata")
DAYS = 30

# --- configuration the seed writes and the plan reasons with ---------------------------------

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
BUSINESS_HOURS: dict[str, dict[str, Any]] = {
    "office": {
        "name": "Office hours (Europe/London)",
        "timezone": "Europe/London",
        "weekly": {d: [["09:00", "17:30"]] for d in WEEKDAYS},
        "holiday_country": "GB",
        "holiday_subdiv": "ENG",
    },
    "contact": {
        "name": "Contact centre (Europe/London)",
        "timezone": "Europe/London",
        "weekly": {**{d: [["08:00", "20:00"]] for d in WEEKDAYS}, "sat": [["09:00", "17:00"]]},
        "holiday_country": "GB",
        "holiday_subdiv": "ENG",
    },
}
LADDER = [
    {"at": 75, "action": "notify_owner"},
    {"at": 100, "action": "breach"},
    {"at": 150, "action": "reassign_to_lead"},
]


@dataclass(frozen=True)
class PolicySpec:
    name: str
    position: int
    kind: str
    channel: str = ""
    priority: str = ""
    team: str = ""
    first: int | None = None
    next: int | None = None
    resolution: int | None = None
    hours: str = ""  # a BUSINESS_HOURS key; empty is 24/7


POLICIES = (
    PolicySpec("Social — public mention", 10, "reply", channel="social", first=60, next=120),
    PolicySpec("Chat", 20, "reply", channel="chat", first=30, next=30),
    PolicySpec("SMS", 25, "reply", channel="sms", first=60, next=120),
    PolicySpec("WhatsApp", 26, "reply", channel="whatsapp", first=60, next=120),
    PolicySpec("Hotel reception — messages", 30, "reply", team="reception", first=120, next=240),
    PolicySpec(
        "Phone callback", 40, "reply", channel="phone", first=120, next=240, hours="contact"
    ),
    PolicySpec(
        "Email — urgent",
        50,
        "reply",
        channel="email",
        priority="urgent",
        first=60,
        next=120,
        resolution=960,
        hours="office",
    ),
    PolicySpec(
        "Email — normal",
        60,
        "reply",
        channel="email",
        first=240,
        next=480,
        resolution=2400,
        hours="office",
    ),
    PolicySpec("Web form", 70, "reply", channel="web", first=480, next=480, hours="office"),
    PolicySpec(
        "Customer portal", 72, "reply", channel="portal", first=240, next=480, hours="office"
    ),
    # Every other channel a message can come in on (app, api, ...): no reply goes without a
    # deadline; the admin's "SLA configuration gaps" page would list it otherwise.
    PolicySpec("Messages — default", 75, "reply", first=480, next=480, hours="office"),
    PolicySpec("Back office — tasks", 80, "task", team="back", resolution=480, hours="office"),
    PolicySpec("Cards — tasks", 90, "task", team="cards", resolution=720, hours="office"),
    PolicySpec("Tasks — default", 100, "task", resolution=960, hours="office"),
    # A broken promise's follow-up: the lead calls the customer back the same working day.
    PolicySpec("Broken promise — follow-up", 110, "followup", resolution=240, hours="contact"),
    PolicySpec("Everything else", 120, "", resolution=960, hours="office"),
)

_CALENDARS: dict[str, Calendar] = {}


def calendar(hours: str) -> Calendar:
    """The calendar of a BUSINESS_HOURS key ('' is 24/7), built the way the loop engine does."""
    if hours not in _CALENDARS:
        if not hours:
            _CALENDARS[hours] = Calendar.twenty_four_seven()
        else:
            bh = BUSINESS_HOURS[hours]
            _CALENDARS[hours] = Calendar.from_config(
                tz=bh["timezone"],
                weekly=bh["weekly"],
                holiday_country=bh["holiday_country"],
                holiday_subdiv=bh["holiday_subdiv"],
            )
    return _CALENDARS[hours]


def policy_for(kind: str, channel: str, priority: str, team: str) -> PolicySpec | None:
    """Which of POLICIES the loop engine will pick (same rules as ``loops.services.policy_match``)."""
    for p in POLICIES:
        if p.kind and p.kind != kind:
            continue
        if p.channel == "social" and not channel.startswith("social"):
            continue
        if p.channel and p.channel != "social" and p.channel != channel:
            continue
        if p.priority and p.priority != priority:
            continue
        if p.team and p.team != team:
            continue
        return p
    return None


# --- the plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A customer: identities as given at the edge (kind, network, value)."""

    key: str
    name: str
    identities: tuple[tuple[str, str, str], ...]
    since: datetime
    timezone: str
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass
class Step:
    """One thing that happens at ``at``; ``action`` says which service carries it out.

    case       case_create (title = subject, actor = assignee)
    message    interaction_record (on ``case`` when set)
    loop       loop_open (``kind``, ``title``, ``team``, ``actor`` = assignee, ``opener``)
    close      loop_close of the loop opened under the key ``loop``
    close_reply / pause   loop_close / loop_pause of the case's open reply loop
    status     case_set_status
    """

    at: datetime
    action: str
    customer: str
    case: str = ""
    loop: str = ""
    kind: str = ""
    channel: str = ""
    direction: str = ""
    body: str = ""
    actor: str = ""
    opener: str = ""
    team: str = ""
    title: str = ""
    priority: str = ""
    status: str = ""
    reason: str = ""
    due_at: datetime | None = None
    visible: bool = False
    data: dict[str, Any] | None = None
    source_id: str = ""


@dataclass(frozen=True)
class Chatter:
    """Background activity with no case (statements, page views, bot chats): ingested in bulk."""

    at: datetime
    customer: str
    channel: str
    direction: str
    body: str
    data: dict[str, Any] | None = None
    source_id: str = ""


@dataclass
class Plan:
    seed: int
    now: datetime
    people: list[Person] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    chatter: list[Chatter] = field(default_factory=list)
    # story name -> (case key, one line on what it shows)
    stories: dict[str, tuple[str, str]] = field(default_factory=dict)
    # When the stories' events happened, for the apps' demo parts to word their texts from
    # ("account_opened", "visit"): a text never states a weekday or an age of its own.
    dates: dict[str, datetime] = field(default_factory=dict)
    # How many website events the funnels' journeys seed (demo.funnels); set by seed_demo.
    funnel_events: int = 0

    @property
    def interaction_count(self) -> int:
        return sum(1 for s in self.steps if s.action == "message") + len(self.chatter)


# --- time helpers --------------------------------------------------------------------------


def local_at(d: date, hh: int, mm: int, tz: ZoneInfo = LONDON) -> datetime:
    """The instant, in UTC, of ``hh:mm`` on ``d`` in ``tz``."""
    return datetime.combine(d, time(hh, mm), tzinfo=tz).astimezone(UTC)


def local_date(at: datetime, tz: ZoneInfo = LONDON) -> date:
    """The date ``at`` falls on in ``tz``."""
    return at.astimezone(tz).date()


def to_minute(at: datetime) -> datetime:
    """``at`` on the minute: every step happens on one."""
    return at.replace(second=0, microsecond=0)


def day_label(at: datetime) -> str:
    """The day of ``at`` as the stories' texts name it, London time: ``Wed 04 Mar``."""
    return at.astimezone(LONDON).strftime("%a %d %b")


def business_back(end: datetime, minutes: int, hours: str) -> datetime:
    """The latest minute ``t`` with at least ``minutes`` of business time between ``t`` and ``end``."""
    cal = calendar(hours)
    need = timedelta(minutes=minutes)
    lo, hi = end - timedelta(days=60), end
    while (hi - lo) > timedelta(minutes=1):
        mid = lo + (hi - lo) / 2
        if business_time_between(mid, end, cal) >= need:
            lo = mid
        else:
            hi = mid
    return to_minute(lo)
