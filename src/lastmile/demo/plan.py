"""The demo as a plan: every customer, case, message and loop action, with its time.

``build_plan(seed=, customers=, now=)`` is pure: no database, no clock. ``random.Random(seed)``
is its only randomness and every time is relative to ``now``, so the same arguments give the
same plan. ``seed.py`` carries the plan out through the services, in time order, so the loops,
deadlines, breaches and escalations in the database are the ones the services compute.

A step that would happen after ``now`` is dropped, and each case's steps are in time order, so
a conversation that is still going on simply stops where ``now`` cuts it: that is where the
open loops come from.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from lastmile.demo import texts
from lastmile.demo.texts import SCENARIOS, Scenario
from lastmile.loops.business_time import Calendar, add_business_time, business_time_between

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

    @property
    def interaction_count(self) -> int:
        return sum(1 for s in self.steps if s.action == "message") + len(self.chatter)


def build_plan(*, seed: int, customers: int, now: datetime) -> Plan:
    """The whole demo for ``customers`` background customers (plus the four stories' people)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    now = now.astimezone(UTC).replace(second=0, microsecond=0)
    b = _Builder(seed=seed, now=now)
    b.stories()
    b.background(max(0, customers))
    return b.finish()


# --- helpers -------------------------------------------------------------------------------


def _local(d: date, hh: int, mm: int, tz: ZoneInfo = LONDON) -> datetime:
    return datetime.combine(d, time(hh, mm), tzinfo=tz).astimezone(UTC)


def _local_date(at: datetime, tz: ZoneInfo = LONDON) -> date:
    return at.astimezone(tz).date()


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _day(at: datetime) -> str:
    return at.astimezone(LONDON).strftime("%a %d %b")


def _ascii(s: str) -> str:
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return "".join(ch for ch in s.lower() if ch.isalnum())


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
    return _minute(lo)


class _Builder:
    def __init__(self, *, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.plan = Plan(seed=seed, now=now)
        self.emails: set[str] = set()
        self.handles: set[str] = set()
        self.phones: set[str] = set()
        self.case_no = 0
        self.loop_no = 0
        self.person_info: dict[str, dict[str, Any]] = {}

    # -- output ----------------------------------------------------------------------------

    def finish(self) -> Plan:
        plan = self.plan
        # Stable sort: steps at the same instant keep the order they were planned in.
        plan.steps = sorted((s for s in plan.steps if s.at <= self.now), key=lambda s: s.at)
        n = 0
        for s in plan.steps:
            if s.action == "message":
                n += 1
                s.source_id = f"demo-{plan.seed}-m{n}"
        chatter = sorted((c for c in plan.chatter if c.at <= self.now), key=lambda c: c.at)
        plan.chatter = [
            Chatter(
                at=c.at,
                customer=c.customer,
                channel=c.channel,
                direction=c.direction,
                body=c.body,
                data=c.data,
                source_id=f"demo-{plan.seed}-c{i + 1}",
            )
            for i, c in enumerate(chatter)
        ]
        return plan

    def step(self, at: datetime, action: str, customer: str, **kw: Any) -> Step:
        s = Step(at=_minute(at), action=action, customer=customer, **kw)
        self.plan.steps.append(s)
        return s

    def new_case_key(self) -> str:
        self.case_no += 1
        return f"k{self.case_no}"

    def new_loop_key(self) -> str:
        self.loop_no += 1
        return f"l{self.loop_no}"

    # -- people ----------------------------------------------------------------------------

    def _phone(self, country: str) -> str:
        rng = self.rng
        while True:
            if country == "IN":
                raw = "+91" + rng.choice(texts.IN_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
            else:
                raw = "+44" + rng.choice(texts.UK_MOBILE_PREFIXES) + f"{rng.randrange(10**6):06d}"
            if raw not in self.phones and phonenumbers.is_valid_number(phonenumbers.parse(raw)):
                self.phones.add(raw)
                return raw

    def _email(self, first: str, last: str, country: str) -> str:
        rng = self.rng
        domains = texts.IN_EMAIL_DOMAINS if country == "IN" else texts.UK_EMAIL_DOMAINS
        f, la = _ascii(first), _ascii(last)
        shapes = (
            f"{f}.{la}",
            f"{f}{la}",
            f"{f[0]}{la}",
            f"{f}.{la}{rng.randint(1, 99)}",
            f"{f}_{la}{rng.randint(70, 99)}",
        )
        for shape in shapes + tuple(f"{f}.{la}{i}" for i in range(100, 10000)):
            email = f"{shape}@{rng.choice(domains)}"
            if email not in self.emails:
                self.emails.add(email)
                return email
        raise AssertionError("unreachable")

    def _handle(self, first: str, last: str) -> str:
        rng = self.rng
        f, la = _ascii(first), _ascii(last)
        for shape in (
            f"{f}{la}",
            f"{f}_{la[:1]}",
            f"{f[:1]}{la}{rng.randint(1, 99)}",
            f"{f}{la}{rng.randint(80, 99)}",
        ):
            if shape not in self.handles:
                self.handles.add(shape)
                return shape
        i = 1
        while f"{f}{la}{i}" in self.handles:
            i += 1
        self.handles.add(f"{f}{la}{i}")
        return f"{f}{la}{i}"

    def person(
        self,
        key: str,
        first: str,
        last: str,
        *,
        country: str,
        email: str | None = None,
        phone: str | None = None,
        handle: str | None = None,
        since_days: int = 400,
        segments: tuple[str, ...] = ("bank",),
        attributes: dict[str, str] | None = None,
        city: str | None = None,
    ) -> str:
        ids: list[tuple[str, str, str]] = []
        if email:
            self.emails.add(email)
            ids.append(("email", "", email))
        if phone:
            self.phones.add(phone)
            ids.append(("phone", "", phone))
        if handle:
            self.handles.add(handle)
            ids.append(("social", "twitter", "@" + handle))
        tz = "Asia/Kolkata" if country == "IN" else "Europe/London"
        city = city or self.rng.choice(texts.IN_CITIES if country == "IN" else texts.UK_CITIES)
        attrs = {"country": country, "city": city, **(attributes or {})}
        since = _minute(self.now - timedelta(days=since_days, minutes=self.rng.randrange(24 * 60)))
        self.plan.people.append(
            Person(
                key=key,
                name=f"{first} {last}",
                identities=tuple(ids),
                since=since,
                timezone=tz,
                attributes=tuple(sorted(attrs.items())),
            )
        )
        self.person_info[key] = {
            "first": first,
            "last": last,
            "country": country,
            "city": city,
            "handle": handle or "",
            "phone": phone or "",
            "segments": segments,
            "tier": attrs.get("tier", ""),
        }
        return key

    # -- the four stories ------------------------------------------------------------------

    def stories(self) -> None:
        self.story_bank()
        self.story_rant()
        self.story_hotel()
        self.story_visit()

    def story_bank(self) -> None:
        """Current account opened; online access never enabled, debit card never linked."""
        now = self.now
        who = self.person(
            "story-bank",
            "Aisha",
            "Khan",
            country="GB",
            email="aisha.khan@outlook.com",
            phone="+447911123456",
            since_days=14,
            city="Leeds",
            attributes={"product": "Everyday Current Account"},
        )
        case = self.new_case_key()
        # The two hand-off tasks were opened this much business time ago: past 150 % of the
        # back office's 480 minutes (reassigned to the lead) and past 100 % of the cards
        # team's 720 (breached) whatever the weekday or holiday ``now`` falls on.
        tasks_at = business_back(now, 1000, "office")
        # Built backwards from there: KYC finished just before, inside its own SLA (380 of 480
        # business minutes); the documents came in just before KYC started.
        done = tasks_at - timedelta(minutes=12)
        self.plan.dates["account_opened"] = done
        kyc_at = business_back(done, 380, "office")
        uploaded = kyc_at - timedelta(minutes=4)
        t1 = uploaded - timedelta(hours=2, minutes=13)
        applied = business_back(t1, 50, "office")
        s = self.step
        s(
            applied,
            "case",
            who,
            case=case,
            title="Current account opening — online banking and debit card",
            team="back",
            actor="back",
            priority="high",
            channel="web",
        )
        s(
            applied,
            "message",
            who,
            case=case,
            channel="web",
            direction="inbound",
            body="Online application: Everyday Current Account.\nEmployment: salaried (NHS, Leeds Teaching Hospitals).\n"
            "Salary paid in: yes, from next month.\nDebit card: Visa Debit requested.\nOnline banking: yes, please.",
            data={"form": "current_account_application", "product": "Everyday Current Account"},
        )
        s(
            t1,
            "message",
            who,
            case=case,
            channel="email",
            direction="outbound",
            actor="back",
            body="Hi Aisha,\n\nThanks for applying for an Everyday Current Account. To finish opening it, please "
            "upload a photo ID (passport or driving licence) and a proof of address from the last 3 months "
            "using the secure link in this email.\n\nOlu\nLastmile Bank — Account opening",
        )
        s(
            uploaded,
            "message",
            who,
            case=case,
            channel="web",
            direction="inbound",
            body="Documents uploaded: passport, council tax bill (Leeds City Council, 2026/27).",
            data={"form": "document_upload", "files": ["passport.jpg", "council-tax-bill.pdf"]},
        )
        kyc = self.new_loop_key()
        s(
            kyc_at,
            "loop",
            who,
            case=case,
            loop=kyc,
            kind="task",
            team="back",
            actor="back",
            opener="back",
            title="KYC: verify identity and address for Aisha Khan",
        )
        s(
            kyc_at + timedelta(minutes=1),
            "message",
            who,
            case=case,
            channel="email",
            direction="outbound",
            actor="back",
            body="Hi Aisha,\n\nWe've got your documents, thank you. Our checks usually take less than a working day; "
            "we'll email you as soon as your account is open.\n\nOlu\nLastmile Bank",
        )
        s(
            done,
            "close",
            who,
            case=case,
            loop=kyc,
            actor="back",
            reason="KYC passed: passport and council tax bill verified",
        )
        s(
            done + timedelta(minutes=4),
            "message",
            who,
            case=case,
            channel="email",
            direction="outbound",
            actor="back",
            body="Hi Aisha,\n\nGood news — your Everyday Current Account is open.\n\nSort code: 40-12-76\n"
            "Account number ending: 4821\n\nYour Visa Debit card will arrive in 3–5 working days, and your "
            "online banking access will be switched on within one working day; we'll text you the "
            "activation code.\n\nWelcome to Lastmile Bank!\nOlu",
        )
        s(
            tasks_at,
            "loop",
            who,
            case=case,
            loop=self.new_loop_key(),
            kind="task",
            team="back",
            actor="back",
            opener="back",
            title="Enable online banking access for account ending 4821 (Aisha Khan)",
        )
        s(
            tasks_at + timedelta(minutes=1),
            "loop",
            who,
            case=case,
            loop=self.new_loop_key(),
            kind="task",
            team="cards",
            actor="cards",
            opener="back",
            title="Link Visa Debit card ending 7730 to account ending 4821 (Aisha Khan)",
        )
        # She phoned the contact centre during its hours, then wrote in 35 minutes ago.
        call = business_back(now - timedelta(minutes=40), 90, "contact")
        s(
            call,
            "message",
            who,
            case=case,
            channel="phone",
            direction="inbound",
            body="Call from Aisha: card arrived but no activation code for online banking yet.",
        )
        s(
            call + timedelta(minutes=7),
            "message",
            who,
            case=case,
            channel="phone",
            direction="outbound",
            actor="front",
            body="Call notes (Sam, front office): told Aisha online access can take up to one working day after opening and the code comes by text. "
            "Card can be used once it's linked to the account.",
        )
        s(
            now - timedelta(minutes=35),
            "message",
            who,
            case=case,
            channel="email",
            direction="inbound",
            body="Hi,\n\nMy account was opened on "
            + _day(done)
            + " and you said online banking would be switched "
            "on within a working day. I still can't log in — it says 'we can't find an account with these "
            "details' — and the code never came. My card was also declined at Tesco even though "
            "my first salary has gone in.\n\nWhy can't I log in, and why doesn't my card work? I've now been "
            "told two different things.\n\nAisha Khan",
            data={"subject": "Still can't log in — and card declined"},
        )
        self.plan.stories["bank"] = (
            case,
            "back office never enabled online access (task breached, reassigned "
            "to the lead); debit card not linked (cards task breached)",
        )

    def story_rant(self) -> None:
        """A public rant on Twitter nobody answered for two days."""
        now = self.now
        who = self.person(
            "story-rant",
            "Dan",
            "McAllister",
            country="GB",
            email="dan.mcallister@gmail.com",
            handle="dmcallister_",
            since_days=4400,
            city="Glasgow",
            attributes={"product": "Premier Current Account"},
        )
        case = self.new_case_key()
        t0 = now - timedelta(hours=49, minutes=13)
        s = self.step
        s(
            t0,
            "case",
            who,
            case=case,
            title="Twitter rant: card declined on honeymoon, 40 minutes on hold",
            team="social",
            actor="social",
            priority="high",
            channel="social:twitter",
        )
        s(
            t0,
            "message",
            who,
            case=case,
            channel="social:twitter",
            direction="inbound",
            body="@LastmileBank absolutely shocking. Card declined 3 times in Lisbon ON OUR HONEYMOON, 40 minutes "
            "on hold and then cut off. 12 years a customer. Sort it out or my salary is going elsewhere "
            "#LastmileBank #customerservice",
            data={
                "public": True,
                "likes": 214,
                "retweets": 87,
                "followers": 5400,
                "url": "https://twitter.com/dmcallister_/status/1893302251000000001",
            },
        )
        s(
            t0 + timedelta(hours=5, minutes=41),
            "message",
            who,
            case=case,
            channel="social:twitter",
            direction="inbound",
            body="Still nothing from @LastmileBank. Funny how quick they are to take the £4.99 'foreign usage' fee.",
            data={
                "public": True,
                "likes": 388,
                "retweets": 151,
                "in_reply_to": "1893302251000000001",
            },
        )
        s(
            t0 + timedelta(hours=26, minutes=2),
            "message",
            who,
            case=case,
            channel="social:twitter",
            direction="inbound",
            body="Day 2 and not a word from @LastmileBank. Moving banks when I'm home. Anyone recommend one that "
            "answers the phone?",
            data={"public": True, "likes": 1021, "retweets": 460, "quotes": 37},
        )
        self.plan.stories["rant"] = (
            case,
            "public Twitter rant unanswered for two days (reply loop breached and "
            "reassigned to the social care lead)",
        )

    def story_hotel(self) -> None:
        """Membership promised an upgrade; reception sees it on the timeline on arrival day."""
        now = self.now
        who = self.person(
            "story-hotel",
            "Priya",
            "Raghavan",
            country="IN",
            email="priya.raghavan@gmail.com",
            phone="+919845012345",
            since_days=1500,
            city="Bengaluru",
            segments=("hotel",),
            attributes={"tier": "Gold", "member_no": "LMR-204881"},
        )
        local_now = now.astimezone(LONDON)
        today = local_now.date()
        if local_now.hour < 14:
            arrival = _local(today, 16, 0)
        else:  # a late arrival: two hours from now, on the quarter hour
            later = now + timedelta(hours=2)
            arrival = later.replace(minute=later.minute - later.minute % 15) + timedelta(minutes=15)
        checkout = arrival.astimezone(LONDON).date() + timedelta(days=3)
        booking, hotel = "HB-58213", "Lastmile Hotel Edinburgh"
        s = self.step
        booked = now - timedelta(days=24, hours=3)
        s(
            booked,
            "message",
            who,
            channel="email",
            direction="outbound",
            body=f"Booking confirmed {booking}: {hotel}, Deluxe King, 3 nights from {_day(arrival)}. "
            "Gold member rate applied.",
            data={"template": "booking_confirmation", "booking": booking},
        )
        m0 = _local(_local_date(now - timedelta(days=9)), 10, 5)
        case = self.new_case_key()
        s(
            m0,
            "case",
            who,
            case=case,
            title="Anniversary stay: suite upgrade and late checkout (Gold member)",
            team="membership",
            actor="membership",
            channel="email",
        )
        s(
            m0,
            "message",
            who,
            case=case,
            channel="email",
            direction="inbound",
            body=f"Hello,\n\nI'm a Gold member (LMR-204881). My husband and I are staying at {hotel} from "
            f"{_day(arrival)} for 3 nights (booking {booking}) — it's our 10th wedding anniversary. Is there "
            "any chance of a room upgrade, and a late checkout on the last day? Our flight back to "
            "Bengaluru isn't until the evening.\n\nThank you,\nPriya Raghavan",
            data={"subject": f"Anniversary stay {booking} — upgrade?"},
        )
        m1 = m0 + timedelta(hours=2, minutes=15)
        s(
            m1,
            "message",
            who,
            case=case,
            channel="email",
            direction="outbound",
            actor="membership",
            body=f"Dear Priya,\n\nHappy anniversary! As a Gold member I'm delighted to confirm a complimentary "
            f"upgrade to a Junior Suite for your stay from {_day(arrival)}, and late checkout until 14:00 on "
            f"{checkout.strftime('%a %d %b')}. I've added both to booking {booking} and let the team at "
            f"{hotel} know.\n\nWarm regards,\nHannah Moore\nLastmile Rewards",
        )
        s(
            m1 + timedelta(minutes=3),
            "loop",
            who,
            loop=self.new_loop_key(),
            kind="promise",
            team="reception",
            opener="membership",
            visible=True,
            due_at=arrival,
            title=f"Junior Suite upgrade + 14:00 late checkout for {booking} (promised by Membership)",
            reason="Promised by Hannah Moore (Membership) by email",
        )
        m2 = _local(_local_date(m0) + timedelta(days=1), 15, 10)
        s(
            m2,
            "message",
            who,
            case=case,
            channel="phone",
            direction="inbound",
            body="Priya called to double-check the upgrade and late checkout are really on the booking.",
        )
        s(
            m2 + timedelta(minutes=6),
            "message",
            who,
            case=case,
            channel="phone",
            direction="outbound",
            actor="membership",
            body=f"Confirmed on the call: Junior Suite and 14:00 checkout are on {booking}. Suggested she mention "
            "it at check-in too.",
        )
        s(m2 + timedelta(minutes=8), "status", who, case=case, status="solved", actor="membership")
        s(m2 + timedelta(minutes=9), "status", who, case=case, status="closed", actor="membership")
        rc = self.new_case_key()
        chat = now - timedelta(minutes=12)
        s(
            chat,
            "case",
            who,
            case=rc,
            title=f"Arriving today: Priya Raghavan (Gold), {booking}",
            team="reception",
            actor="reception",
            channel="chat",
        )
        s(
            chat,
            "message",
            who,
            case=rc,
            channel="chat",
            direction="inbound",
            body=f"Hi! We're on the train from the airport and should be at the hotel about "
            f"{arrival.astimezone(LONDON):%H:%M}. Just checking the Junior Suite and the 2pm checkout Hannah "
            "arranged are on our booking? Thanks!",
        )
        self.plan.stories["hotel"] = (
            rc,
            "arrival today; membership's promise (upgrade + late checkout) is on "
            "the same timeline and an open promise loop for reception",
        )
        self.plan.stories["hotel-membership"] = (
            case,
            "membership conversation (closed) behind the hotel arrival",
        )

    def story_visit(self) -> None:
        """A home diagnostics visit that went well, closed inside its window."""
        now = self.now
        who = self.person(
            "story-visit",
            "Margaret",
            "Ellis",
            country="GB",
            email="margaret.ellis@btinternet.com",
            phone="+447812345678",
            since_days=900,
            city="York",
            segments=("home",),
        )
        case = self.new_case_key()
        f0 = _local(_local_date(now - timedelta(days=5)), 11, 20)
        visit_day = _local_date(now - timedelta(days=2))
        start, end = _local(visit_day, 10, 0), _local(visit_day, 12, 0)
        window = f"{visit_day:%a %d %b}, 10:00–12:00"
        self.plan.dates["visit"] = start
        s = self.step
        s(
            f0,
            "case",
            who,
            case=case,
            title="Home diagnostics visit: Wi-Fi drops every evening",
            team="field",
            actor="field",
            channel="phone",
        )
        s(
            f0,
            "message",
            who,
            case=case,
            channel="phone",
            direction="inbound",
            body="Margaret called: Wi-Fi drops every evening between about 7 and 10pm, several times. Router "
            "restarted many times. Laptop on a cable is fine.",
        )
        s(
            f0 + timedelta(minutes=6),
            "message",
            who,
            case=case,
            channel="phone",
            direction="outbound",
            actor="field",
            body=f"Booked a home diagnostics visit for {window}. Engineer will text when on the way.",
        )
        visit = self.new_loop_key()
        s(
            f0 + timedelta(minutes=7),
            "loop",
            who,
            case=case,
            loop=visit,
            kind="visit",
            team="field",
            actor="field",
            opener="field",
            visible=True,
            due_at=end,
            title=f"Home diagnostics visit {window}",
        )
        s(
            _local(visit_day - timedelta(days=1), 17, 0),
            "message",
            who,
            case=case,
            channel="email",
            direction="outbound",
            actor="field",
            body=f"Hi Margaret, a reminder that Gareth will visit tomorrow, {visit_day:%A} {visit_day.day} "
            f"{visit_day:%B}, between 10:00 and 12:00 to look at your Wi-Fi. He'll text when he's on the "
            "way.\n\nLastmile Home",
        )
        s(
            start - timedelta(minutes=8),
            "message",
            who,
            case=case,
            channel="sms",
            direction="outbound",
            actor="field",
            body="Lastmile Home: Gareth is on his way and should be with you by 10:15.",
        )
        s(
            start + timedelta(minutes=14),
            "message",
            who,
            case=case,
            channel="field",
            direction="note",
            actor="field",
            body="On site 10:14. Router on channel 11 clashing with 14 neighbouring networks; powerline adapter in "
            "the lounge failing under load in the evenings. Replaced adapter, moved router to auto channel on "
            "5 GHz, speed test 72 Mbps in the lounge.",
        )
        s(
            start + timedelta(minutes=58),
            "close",
            who,
            case=case,
            loop=visit,
            actor="field",
            reason="Visit done 10:58, inside the 10:00–12:00 window; fault fixed on site",
        )
        s(
            start + timedelta(minutes=95),
            "message",
            who,
            case=case,
            channel="email",
            direction="outbound",
            actor="field",
            body="Hi Margaret, thanks for having us today. Gareth replaced the faulty powerline adapter and moved "
            "your router to a clearer channel; the full report is in your account.\n\nLastmile Home",
        )
        thanks = _local(visit_day + timedelta(days=1), 8, 47)
        s(
            thanks,
            "message",
            who,
            case=case,
            channel="email",
            direction="inbound",
            body="Just wanted to say thank you — Gareth was on time, explained everything, and the Wi-Fi hasn't "
            "dropped once since. Please pass on my thanks.\n\nMargaret",
            data={"subject": "Thank you!", "csat": 5},
        )
        s(
            thanks + timedelta(minutes=43),
            "message",
            who,
            case=case,
            channel="email",
            direction="outbound",
            actor="field",
            body="Thank you Margaret, that's lovely to hear — I've passed it on to Gareth.\n\nLastmile Home",
        )
        s(thanks + timedelta(minutes=45), "status", who, case=case, status="solved", actor="field")
        self.plan.stories["visit"] = (
            case,
            "home diagnostics visit closed inside its window; customer thrilled; case solved",
        )

    # -- background -----------------------------------------------------------------------

    def background(self, n: int) -> None:
        rng = self.rng
        keys = []
        for i in range(n):
            country = "IN" if rng.random() < 0.25 else "GB"
            first = rng.choice(texts.IN_FIRST if country == "IN" else texts.UK_FIRST)
            last = rng.choice(texts.IN_LAST if country == "IN" else texts.UK_LAST)
            segments = tuple(
                seg for seg, p in (("bank", 0.7), ("hotel", 0.4), ("home", 0.3)) if rng.random() < p
            ) or (rng.choice(("bank", "hotel", "home")),)
            # The first few always have a handle: the pinned social cases need someone to tweet.
            has_handle = rng.random() < 0.22 or i < 3
            email = (
                self._email(first, last, country)
                if (not has_handle or rng.random() < 0.85)
                else None
            )
            phone = self._phone(country) if rng.random() < 0.65 else None
            handle = self._handle(first, last) if has_handle else None
            if not (email or phone or handle):
                email = self._email(first, last, country)
            attrs: dict[str, str] = {}
            if "hotel" in segments:
                attrs["tier"] = rng.choice(("Blue", "Blue", "Silver", "Gold", "Platinum"))
                attrs["member_no"] = f"LMR-{rng.randrange(100000, 999999)}"
            key = self.person(
                f"p{i + 1}",
                first,
                last,
                country=country,
                email=email,
                phone=phone,
                handle=handle,
                since_days=rng.randint(35, 2500),
                segments=segments,
                attributes=attrs,
            )
            keys.append(key)
        # Cases whose timing is chosen so every team's inbox shows every SLA state.
        pinned: list[tuple[str, str, int | tuple[str, int], str]] = [
            ("login", "chat", 4, "neglected"),
            ("overdraft", "chat", 24, "neglected"),
            ("card_abroad", "chat", 6, "neglected"),
            ("card_abroad", "chat", 25, "neglected"),
            ("tweet_app", "social:twitter", 9, "neglected"),
            ("tweet_hotel", "social:twitter", 50, "neglected"),
            ("early_checkin", "chat", 3, "neglected"),
            ("early_checkin", "chat", 26, "neglected"),
            ("noise", "phone", 5 * 60, "neglected"),
            ("upgrade", "email", 3 * 24 * 60, "neglected"),
            ("upgrade", "chat", 8, "neglected"),
            ("points", "chat", 23, "neglected"),
            ("login", "email", 2 * 24 * 60, "waiting"),
            ("bereavement", "email", 3 * 24 * 60, "waiting"),
            ("pin", "email", 2 * 24 * 60, "waiting"),
            ("invoice", "email", 2 * 24 * 60, "waiting"),
            ("status_match", "email", 3 * 24 * 60, "waiting"),
            ("tweet_app", "social:twitter", 26 * 60, "waiting"),
            # Back-office hand-offs at 85 % (at risk) and 30 % (ok) of their SLA, on any weekday.
            ("address", "email", ("office", 410), "prompt"),
            ("closure", "email", ("office", 140), "prompt"),
            ("lost_card", "chat", ("office", 500), "prompt"),
            ("broadband_fault", "phone", 20 * 60, "prompt"),
            ("boiler", "phone", 3 * 24 * 60, "prompt"),
        ]
        by_key = {sc.key: sc for sc in SCENARIOS}
        pool = [k for k in keys if self.person_info[k]["handle"]]
        for i, (sc_key, channel, ago, fate) in enumerate(pinned):
            if not keys:
                break
            sc = by_key[sc_key]
            social = channel.startswith("social")
            who = (pool or keys)[i % len(pool or keys)] if social else keys[i % len(keys)]
            start = (
                business_back(self.now, ago[1], ago[0])
                if isinstance(ago, tuple)
                else self.now - timedelta(minutes=ago)
            )
            self.conversation(who, sc, start=start, channel=channel, fate=fate, quick=True)
        for key in keys:
            info = self.person_info[key]
            for _ in range(1 + (rng.random() < 0.45) + (rng.random() < 0.15)):
                picked = self.pick_scenario(info)
                if picked is not None:
                    self.conversation(key, picked, start=self.random_start())
            self.chatter_for(key)

    def pick_scenario(self, info: dict[str, Any]) -> Scenario | None:
        """A scenario of one of the person's segments; social ones only for people with a handle."""
        options = [
            sc
            for sc in SCENARIOS
            if sc.segment in info["segments"]
            and (info["handle"] or any(not c.startswith("social") for c in sc.channels))
        ]
        if not options:
            return None
        return self.rng.choices(options, weights=[sc.weight for sc in options])[0]

    def random_start(self) -> datetime:
        rng = self.rng
        days_ago = (DAYS - 0.5) * rng.random() ** 1.4
        local_day = _local_date(self.now - timedelta(days=days_ago))
        at = _local(local_day, rng.randint(7, 22), rng.randrange(60))
        while at > self.now - timedelta(minutes=2):
            at -= timedelta(days=1)
        return at

    # -- one case --------------------------------------------------------------------------

    def variables(self, who: str, sc: Scenario, agent: str, at: datetime) -> dict[str, str]:
        rng = self.rng
        info = self.person_info[who]
        india = info["country"] == "IN"
        team_brand = {slug: brand for slug, _, brand in texts.TEAMS}
        agent_first, agent_last = (
            texts.AGENT_NAMES.get(agent) or texts.LEAD_NAMES[agent.removesuffix("-lead")]
        )
        # One currency per business: the bank, the hotels, rewards and home are British and
        # bill in pounds, wherever the customer lives.
        amount = rng.choice((4.99, 12.50, 23.80, 42.99, 59.00, 89.95, 124.00, 249.99, 480.00))
        return {
            "first": info["first"],
            "last": info["last"],
            "city": info["city"],
            "agent": agent_first,
            "initials": agent_first[0] + agent_last[0],
            "brand": team_brand.get(sc.team, "Lastmile"),
            "amount": f"£{amount:,.2f}",
            "merchant": rng.choice(texts.IN_MERCHANTS if india else texts.UK_MERCHANTS),
            "last4": f"{rng.randrange(10000):04d}",
            "last4b": f"{rng.randrange(10000):04d}",
            "acct4": f"{rng.randrange(10000):04d}",
            "phone4": info["phone"][-4:] if info["phone"] else f"{rng.randrange(10000):04d}",
            # "date" is of something that happened, "soon" of something to come (a stay, a flight)
            "date": _day(at - timedelta(days=(days := rng.randint(1, 10)))),
            "soon": _day(at + timedelta(days=days + 1)),
            "month": texts.MONTHS[(at.astimezone(LONDON).month - 2) % 12],
            "booking": f"HB-{rng.randrange(10000, 99999)}",
            "hotel": rng.choice(texts.UK_HOTELS),
            "abroad": rng.choice(texts.ABROAD),
            "points": f"{rng.randrange(6, 48) * 250:,}",
            "device": rng.choice(texts.DEVICES),
            "handle": info["handle"] or "customer",
            "waiting_for": sc.waiting_for,
            "engineer": texts.AGENT_NAMES["field"][0],
            "window": "",
            "eta": "",
            "arrived": "",
            "summary": "",
        }

    def reply_at(
        self, t: datetime, channel: str, sc: Scenario, target: str, late: bool, quick: bool
    ) -> datetime:
        """When the agent answers a message that arrived at ``t``, on time or late against the SLA."""
        rng = self.rng
        if quick:
            return t + timedelta(minutes=rng.randint(2, 5))
        if channel == "chat":
            return t + timedelta(minutes=rng.randint(35, 150) if late else rng.randint(1, 18))
        policy = policy_for("reply", channel, sc.priority, sc.team)
        minutes = (policy.first if target == "first" else policy.next) if policy else None
        cal = calendar(policy.hours if policy else "office")
        if channel == "phone" and target == "first" and not late and cal.is_open(t):
            return t + timedelta(minutes=rng.randint(2, 12))  # answered live
        minutes = minutes or 240
        share = rng.uniform(1.15, 3.0) if late else rng.uniform(0.05, 0.85)
        return add_business_time(t, timedelta(minutes=round(minutes * share)), cal)

    def customer_after(self, t: datetime, channel: str, quick: bool) -> datetime:
        rng = self.rng
        if quick or channel == "chat":
            return t + timedelta(minutes=rng.randint(1, 6))
        if channel.startswith("social"):
            return t + timedelta(minutes=rng.randint(10, 8 * 60))
        if channel == "phone":
            return t + timedelta(hours=rng.randint(20, 72))
        return t + timedelta(minutes=rng.randint(30, 30 * 60))

    def conversation(
        self,
        who: str,
        sc: Scenario,
        *,
        start: datetime,
        channel: str | None = None,
        fate: str | None = None,
        quick: bool = False,
    ) -> None:
        """One case from first message to solved (or to wherever ``now`` cuts it).

        ``fate``: prompt (answered inside the SLA), late (answered after it: a breach the
        sweeper records), waiting (the agent pauses the reply loop for the customer) or
        neglected (never answered). ``quick`` pins a case to ``start``: replies within
        minutes and nothing after the first exchange, so its loop state at ``now`` is known.
        """
        rng = self.rng
        now = self.now
        channel = channel or rng.choice(sc.channels)
        roll = rng.random()
        assignee = sc.team if roll < 0.82 else (f"{sc.team}-lead" if roll < 0.9 else "")
        agent = assignee or sc.team
        if channel == "phone" and not quick:
            contact = calendar("contact")
            if not contact.is_open(start):
                start = add_business_time(start, timedelta(minutes=rng.randint(1, 50)), contact)
                if start > now:
                    return
        if fate is None:
            roll = rng.random()
            fate = (
                "prompt"
                if roll < 0.64
                else "late"
                if roll < 0.80
                else "waiting"
                if roll < 0.90
                else "neglected"
            )
            if fate == "neglected" and start < now - timedelta(days=4):
                fate = "prompt"
            if fate == "waiting" and (sc.task or sc.visit):
                fate = "prompt"
        v = self.variables(who, sc, agent, start)
        case = self.new_case_key()
        s = self.step

        sig = (
            "" if channel in ("chat", "phone") or channel.startswith("social") else texts.SIGNATURE
        )

        def fmt(template: str) -> str:
            return template.format_map(v)

        def said(template: str) -> str:  # the customer's words; a call is logged as notes
            text = fmt(template)
            return f"Call from {v['first']}: {text}" if channel == "phone" else text

        def answer(template: str) -> str:
            text = fmt(template)
            return f"Call notes ({v['agent']}): {text}" if channel == "phone" else text + fmt(sig)

        # Visits are booked for a two-hour window 1-4 days after the first reply.
        t1 = self.reply_at(start, channel, sc, "first", fate == "late", quick)
        window_end = None
        if sc.visit:
            day = _local_date(t1) + timedelta(days=rng.randint(1, 4))
            if day.weekday() == 6:
                day += timedelta(days=1)
            hour = rng.choice((8, 10, 12, 14, 16))
            w_start, window_end = _local(day, hour, 0), _local(day, hour + 2, 0)
            v["window"] = f"{day:%a %d %b}, {hour:02d}:00–{hour + 2:02d}:00"
        subject = fmt(rng.choice(sc.subjects))
        s(
            start,
            "case",
            who,
            case=case,
            title=subject,
            team=sc.team,
            actor=assignee,
            priority=sc.priority,
            channel=channel,
        )
        data = {"public": True} if channel.startswith("social") else None
        s(
            start,
            "message",
            who,
            case=case,
            channel=channel,
            direction="inbound",
            body=said(rng.choice(sc.opening)),
            data=data,
        )
        if fate == "neglected":
            return
        s(
            t1,
            "message",
            who,
            case=case,
            channel=channel,
            direction="outbound",
            actor=agent,
            body=answer(rng.choice(sc.reply)),
        )
        last = t1
        dm = {"dm": True} if channel.startswith("social") else None

        if fate == "waiting":
            c1 = self.customer_after(t1, channel, quick)
            s(
                c1,
                "message",
                who,
                case=case,
                channel=channel,
                direction="inbound",
                body=said(rng.choice(texts.WAITING_REPLY)),
                data=dm,
            )
            # The agent parks the loop before its deadline (an overdue loop cannot be paused;
            # the shortest next-reply target in the demo is 30 minutes).
            p = c1 + timedelta(minutes=min(rng.randint(3, 40), 25))
            s(
                p,
                "message",
                who,
                case=case,
                channel=channel,
                direction="note",
                actor=agent,
                body=fmt(rng.choice(texts.WAITING_NOTE)),
            )
            s(
                p,
                "pause",
                who,
                case=case,
                actor=agent,
                reason=f"waiting on customer: {sc.waiting_for}",
            )
            s(p, "status", who, case=case, status="pending", actor=agent)
            if quick:
                return
            c2 = p + timedelta(days=rng.randint(1, 9), minutes=rng.randrange(600))
            s(
                c2,
                "message",
                who,
                case=case,
                channel=channel,
                direction="inbound",
                body=said(rng.choice(texts.WAITING_BACK)),
                data=dm,
            )
            last = self.reply_at(c2, channel, sc, "next", False, quick)
            s(
                last,
                "message",
                who,
                case=case,
                channel=channel,
                direction="outbound",
                actor=agent,
                body=answer(rng.choice(sc.closing)),
            )
        else:
            if sc.task:
                team, title = sc.task
                task = self.new_loop_key()
                s(
                    t1,
                    "loop",
                    who,
                    case=case,
                    loop=task,
                    kind="task",
                    team=team,
                    actor=team,
                    opener=agent,
                    title=fmt(title),
                )
                policy = policy_for("task", "", "", team)
                cal = calendar(policy.hours if policy else "office")
                minutes = (policy.resolution if policy else None) or 960
                share = rng.uniform(1.2, 2.5) if rng.random() < 0.2 else rng.uniform(0.1, 0.9)
                done = _minute(
                    add_business_time(t1, timedelta(minutes=round(minutes * share)), cal)
                )
                if quick:
                    done = now + timedelta(days=1)
                s(done, "close", who, case=case, loop=task, actor=team, reason="done")
                told = add_business_time(
                    done, timedelta(minutes=rng.randint(5, 90)), calendar("office")
                )
                by = "email" if channel in ("chat", "phone", "web") else channel
                sign = "" if by.startswith("social") else texts.SIGNATURE
                s(
                    told,
                    "message",
                    who,
                    case=case,
                    channel=by,
                    direction="outbound",
                    actor=agent,
                    body=fmt(rng.choice(sc.done) + sign),
                    data=dm,
                )
                last = max(last, told)
            if sc.visit and window_end is not None:
                visit = self.new_loop_key()
                s(
                    t1,
                    "loop",
                    who,
                    case=case,
                    loop=visit,
                    kind="visit",
                    team="field",
                    actor="field",
                    opener=agent,
                    visible=True,
                    due_at=window_end,
                    title=f"Home visit {v['window']}: {subject}",
                )
                late_visit = rng.random() < 0.1
                arrived = (
                    window_end + timedelta(minutes=rng.randint(20, 90))
                    if late_visit
                    else w_start + timedelta(minutes=rng.randint(3, 70))
                )
                v["eta"] = f"{(arrived + timedelta(minutes=5)).astimezone(LONDON):%H:%M}"
                v["arrived"] = f"{arrived.astimezone(LONDON):%H:%M}"
                s(
                    arrived - timedelta(minutes=25),
                    "message",
                    who,
                    case=case,
                    channel="sms",
                    direction="outbound",
                    actor="field",
                    body="Lastmile Home: " + fmt(rng.choice(texts.VISIT_ON_WAY)),
                )
                if late_visit:
                    s(
                        arrived - timedelta(minutes=24),
                        "message",
                        who,
                        case=case,
                        channel="field",
                        direction="note",
                        actor="field",
                        body=texts.VISIT_LATE_NOTE[0],
                    )
                note = fmt(rng.choice(texts.VISIT_NOTE))
                v["summary"] = note.split(". ", 1)[-1]
                s(
                    arrived,
                    "message",
                    who,
                    case=case,
                    channel="field",
                    direction="note",
                    actor="field",
                    body=note,
                )
                closed = arrived + timedelta(minutes=rng.randint(35, 80))
                s(
                    closed,
                    "close",
                    who,
                    case=case,
                    loop=visit,
                    actor="field",
                    reason="job done on site",
                )
                told = closed + timedelta(minutes=rng.randint(20, 180))
                s(
                    told,
                    "message",
                    who,
                    case=case,
                    channel="email",
                    direction="outbound",
                    actor="field",
                    body=fmt(rng.choice(texts.VISIT_SUMMARY)),
                )
                last = max(last, told)
            if rng.random() < 0.6 and sc.followup:
                c1 = self.customer_after(t1, channel, quick)
                s(
                    c1,
                    "message",
                    who,
                    case=case,
                    channel=channel,
                    direction="inbound",
                    body=said(rng.choice(sc.followup)),
                    data=dm,
                )
                t2 = self.reply_at(c1, channel, sc, "next", rng.random() < 0.12, quick)
                s(
                    t2,
                    "message",
                    who,
                    case=case,
                    channel=channel,
                    direction="outbound",
                    actor=agent,
                    body=answer(rng.choice(sc.closing)),
                    data=dm,
                )
                last = max(last, t2)
        if quick:
            return  # a pinned case stays open: its hand-off, visit or reply is still pending
        if rng.random() < 0.35:
            by = "email" if channel == "phone" else channel  # nobody phones to say thanks
            th = self.customer_after(last, by, quick)
            s(
                th,
                "message",
                who,
                case=case,
                channel=by,
                direction="inbound",
                body=fmt(rng.choice(texts.THANKS)),
                data=dm,
            )
            last = th + timedelta(minutes=rng.randint(2, 120))
            s(
                last,
                "close_reply",
                who,
                case=case,
                actor=agent,
                reason="no reply needed: customer said thanks",
            )
        solved = last + timedelta(minutes=rng.randint(5, 90))
        s(solved, "status", who, case=case, status="solved", actor=agent)
        if solved < now - timedelta(days=7) and rng.random() < 0.5:
            s(solved + timedelta(days=7), "status", who, case=case, status="closed", actor=agent)

    # -- activity without a case ------------------------------------------------------------

    def chatter_for(self, who: str) -> None:
        rng = self.rng
        info = self.person_info[who]
        v = {"first": info["first"], "city": info["city"]}
        out: list[tuple[str, str, str, dict[str, Any] | None]] = []
        for _ in range(rng.randint(3, 9)):
            seg = rng.choice(info["segments"])
            pick = rng.random()
            if info["handle"] and pick < 0.12:
                out.append(
                    (
                        "social:twitter",
                        "inbound",
                        rng.choice(texts.POSITIVE_TWEETS).format_map(v),
                        {"public": True},
                    )
                )
            elif seg == "bank":
                if pick < 0.3:
                    month = texts.MONTHS[rng.randrange(12)]
                    out.append(
                        (
                            "email",
                            "outbound",
                            f"Your {month} statement for the account ending {rng.randrange(10000):04d} is ready to view in online banking.",
                            {"template": "statement_ready"},
                        )
                    )
                elif pick < 0.55:
                    title, path = rng.choice(texts.WEB_PAGES)
                    out.append(
                        (
                            "web",
                            "inbound",
                            f"Viewed page: {title}",
                            {"event": "page_view", "path": path},
                        )
                    )
                elif pick < 0.7:
                    out.append(
                        (
                            "web",
                            "inbound",
                            "Signed in to online banking",
                            {"event": "login", "device": rng.choice(texts.DEVICES)},
                        )
                    )
                elif pick < 0.88:
                    q, a = rng.choice(texts.BOT_QA)
                    out.append(("chat", "inbound", q, {"bot": True}))
                    out.append(("chat", "outbound", a, {"bot": True}))
                else:
                    out.append(
                        ("phone", "inbound", "Automated balance enquiry (IVR)", {"ivr": "balance"})
                    )
            elif seg == "hotel":
                hotel = rng.choice(texts.UK_HOTELS)
                booking = f"HB-{rng.randrange(10000, 99999)}"
                if pick < 0.3:
                    out.append(
                        (
                            "email",
                            "outbound",
                            f"Booking confirmed {booking}: {hotel}, {rng.randint(1, 4)} night(s).",
                            {"template": "booking_confirmation", "booking": booking},
                        )
                    )
                elif pick < 0.5:
                    out.append(
                        ("web", "inbound", f"Searched availability: {hotel}", {"event": "search"})
                    )
                elif pick < 0.65:
                    out.append(
                        (
                            "email",
                            "outbound",
                            f"Thanks for staying at {hotel}. How did we do? Tell us in 2 minutes.",
                            {"template": "post_stay_survey"},
                        )
                    )
                elif pick < 0.8:
                    out.append(
                        (
                            "email",
                            "outbound",
                            f"You earned {rng.randrange(4, 40) * 250:,} Lastmile Rewards points for your stay at {hotel}.",
                            {"template": "points_earned"},
                        )
                    )
                else:
                    q, a = rng.choice(texts.HOTEL_BOT_QA)
                    out.append(("chat", "inbound", q, {"bot": True}))
                    out.append(("chat", "outbound", a, {"bot": True}))
            else:
                if pick < 0.4:
                    month = texts.MONTHS[rng.randrange(12)]
                    out.append(
                        (
                            "email",
                            "outbound",
                            f"Your Lastmile Home bill for {month} is £{rng.randrange(2800, 9900) / 100:.2f}.",
                            {"template": "bill"},
                        )
                    )
                elif pick < 0.7:
                    result = rng.choice(
                        ("no fault found", "no fault found", "intermittent sync drops detected")
                    )
                    out.append(
                        (
                            "web",
                            "inbound",
                            f"Ran the online line test: {result}",
                            {"event": "line_test", "result": result},
                        )
                    )
                else:
                    out.append(
                        (
                            "phone",
                            "inbound",
                            "Automated fault check (IVR): no fault found on the line",
                            {"ivr": "fault_check"},
                        )
                    )
        at = self.now
        for channel, direction, body, data in out:
            if data and data.get("bot") and direction == "outbound":
                at = at + timedelta(seconds=20)
            else:
                at = self.random_start()
            self.plan.chatter.append(
                Chatter(
                    at=at, customer=who, channel=channel, direction=direction, body=body, data=data
                )
            )
