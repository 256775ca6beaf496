"""The promises app's part of the seeded demo (called by lastmile.demo.seed after the core stories).

Everything goes through the services, at the time it happens (``now=`` in the past):

- two policies: deluxe-room occupancy (block, for deluxe rooms: at most 3 adults; the
  membership lead's authority overrides it) and goodwill refunds above £50 (block;
  leads' authority covers it up to a limit);
- the hotel story continues: five days ago Priya Raghavan (Gold) asked Membership for two
  extra beds — four adults in her Deluxe King. Hannah Moore's promise is stopped by the
  occupancy block, beyond her authority; she asks for the exception, which records the
  promise awaiting approval and opens a task for her lead Anil Kapoor, who approves it:
  the promise goes live, with who asked and who approved in its trail. Reception (Tomás
  Reyes, on today's arrival case) sees it with its author, channel and time, and keeps it
  at check-in;
- a goodwill refund of £60 that the reception agent cannot promise (blocked) and the
  reception lead, whose authority goes to £100, overrides; kept the next day;
- a promise reception could not keep (a parcel not posted on time): broken with a reason,
  a follow-up open for the reception lead.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lastmile.cases.services import case_create, case_set_status
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve, customer_update
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.selectors import loop_list
from lastmile.people.models import Agent
from lastmile.people.services import agent_authority_set
from lastmile.people.viewers import SYSTEM
from lastmile.promises.services import (
    PolicyConflict,
    policy_create,
    promise_break,
    promise_exception_approve,
    promise_keep,
    promise_record,
)

LONDON = ZoneInfo("Europe/London")
KOLKATA = ZoneInfo("Asia/Kolkata")

OCCUPANCY: dict[str, Any] = {
    "key": "occupancy-deluxe",
    "title": "Deluxe rooms sleep three adults",
    "applies_when": 'has(terms.room_type) && terms.room_type == "deluxe"',
    "rule": "terms.adults <= 3",
    "severity": "block",
    "text": "A Deluxe room sleeps at most 3 adults (fire regulations). A 4th adult with extra "
    "beds is an exception your team lead approves; tell reception.",
}
REFUND: dict[str, Any] = {
    "key": "goodwill-refund",
    "title": "Goodwill refunds above £50",
    "applies_when": 'has(terms.refund_amount) && has(terms.currency) && terms.currency == "GBP"',
    "rule": "double(terms.refund_amount) <= 50.0",
    "severity": "block",
    "text": "Goodwill refunds above £50 need a lead whose refund authority covers the amount.",
    "authority_term": "refund_amount",
}


def _at(day: date, hh: int, mm: int, tz: ZoneInfo = LONDON) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=tz).astimezone(UTC)


def _day(at: datetime, tz: ZoneInfo = LONDON) -> date:
    return at.astimezone(tz).date()


def seed(seeder: Any) -> list[str]:
    now = seeder.now
    teams, users = seeder.teams, seeder.users
    for key in ("reception", "membership", "reception-lead", "membership-lead"):
        if key not in users or key.split("-")[0] not in teams:
            return ["promises: the hotel teams are missing; no promises seeded"]
    policies_from = now - timedelta(days=60)
    policy_create(**OCCUPANCY, team=teams["reception"], now=policies_from)
    policy_create(**REFUND, team=teams["reception"], now=policies_from)
    # The leads' authority is configuration, audited as the system's, at the seed's now.
    agent_authority_set(
        agent=Agent.objects.get(user=users["reception-lead"]),
        authority={"limits": {"refund_amount": 100}},
        actor=None,
        actor_label="system",
        now=now,
    )
    agent_authority_set(
        agent=Agent.objects.get(user=users["membership-lead"]),
        authority={"limits": {"refund_amount": 200}, "overrides": [OCCUPANCY["key"]]},
        actor=None,
        actor_label="system",
        now=now,
    )
    lines = ["promises:"]
    lines.append(_beds(seeder, now))
    lines.append(_refund(seeder, now))
    lines.append(_parcel(seeder, now))
    lines.append(
        "  policies: occupancy-deluxe (block, deluxe rooms: terms.adults <= 3; membership-lead "
        "may override), goodwill-refund (block above £50; reception-lead may override to "
        "£100, membership-lead to £200)"
    )
    return lines


def _beds(seeder: Any, now: datetime) -> str:
    """Four adults in a Deluxe King: a block, the agent asks, her lead approves; kept at
    check-in."""
    priya = seeder.customers.get("story-hotel")
    arrival_case = seeder.cases.get(seeder.plan.stories.get("hotel", ("",))[0])
    if priya is None or arrival_case is None:
        return "  (hotel story missing: no extra-beds promise)"
    users, teams = seeder.users, seeder.teams
    hannah, anil = users["membership"], users["membership-lead"]
    upgrade = loop_list(
        viewer=SYSTEM, now=now, customer=priya, kind="promise", state="open"
    ).first()
    arrival = upgrade.due_at if upgrade is not None and upgrade.due_at else now + timedelta(hours=4)
    asked = _at(_day(now - timedelta(days=5)), 11, 20)
    case = case_create(
        customer=priya,
        subject="Two extra beds for HB-58213 — our daughters are joining us",
        now=asked,
        team=teams["membership"],
        assignee=hannah,
        channel="email",
    )
    interaction_record(
        customer=priya,
        case=case,
        channel="email",
        direction="inbound",
        occurred_at=asked,
        now=asked,
        body="Hello Hannah,\n\nLovely news: our daughters (19 and 22) are flying in to surprise us, "
        "so we'll be four adults. Could the room have two extra beds rather than booking a "
        "second room? We'd love to be together for the anniversary.\n\nPriya",
        data={"subject": "Re: Anniversary stay HB-58213 — two extra beds?"},
    )
    terms = {"adults": 4, "extra_beds": 2, "room_type": "deluxe"}
    text = (
        "Two extra beds in your Deluxe King (HB-58213) for the four of you, ready when you arrive"
    )
    common = {
        "case": case,
        "text": text,
        "terms": terms,
        "due_at": arrival,
        "team": teams["reception"],
        "channel": "email",
        "made_by": hannah,
        "recorded_via": "demo",
    }
    tried = asked + timedelta(minutes=35)
    try:
        promise_record(**common, actor=hannah, now=tried)
        refused = ""
    except PolicyConflict as exc:  # the occupancy block, as the console showed it to Hannah
        refused = exc.detail
    interaction_record(
        customer=priya,
        case=case,
        channel="web",
        direction="note",
        occurred_at=tried + timedelta(minutes=1),
        now=tried + timedelta(minutes=1),
        body=f"Tried to promise 2 extra beds (4 adults, Deluxe King): {refused or 'no block'}. "
        "Asking Anil to approve an exception.",
        actor=hannah,
    )
    # She asks for the exception: recorded awaiting approval, a task for Anil
    awaiting = promise_record(
        **common, actor=hannah, override=True, now=tried + timedelta(minutes=2)
    )
    approved = tried + timedelta(minutes=25)
    promise = promise_exception_approve(
        promise=awaiting,
        actor=anil,
        reason="Anniversary stay, Gold member; extra beds fit the Deluxe King",
        now=approved,
    )
    replied = approved + timedelta(minutes=10)
    interaction_record(
        customer=priya,
        case=case,
        channel="email",
        direction="outbound",
        occurred_at=replied,
        now=replied,
        body="Dear Priya,\n\nWhat a lovely surprise. I've arranged two extra beds in your Deluxe "
        "King so the four of you can stay together; reception at Lastmile Hotel Edinburgh have "
        "it on your booking.\n\nWarm regards,\nHannah Moore\nLastmile Rewards",
        actor=hannah,
    )
    case_set_status(case=case, status="solved", actor=hannah, now=replied + timedelta(minutes=2))
    return (
        f"  {case.ref:<9} extra beds        Hannah's promise (4 adults, deluxe) stopped by the "
        f"occupancy block beyond her authority; she asked, Anil approved the exception; "
        f"reception sees it on {arrival_case.ref} (promise #{promise.pk})"
    )


def _guest(seeder: Any, key: str, name: str, email: str, since: datetime, **attrs: Any) -> Any:
    customer = customer_resolve(
        identities=[identity_normalize("email", email)], now=since, display_name=name
    ).customer
    customer_update(customer=customer, attributes=attrs)
    seeder.customers[key] = customer
    return customer


def _refund(seeder: Any, now: datetime) -> str:
    """£60 back for two nights without heating: blocked for the agent, the lead overrides."""
    users, teams = seeder.users, seeder.teams
    tomas, sofia = users["reception"], users["reception-lead"]
    day = _day(now - timedelta(days=3), KOLKATA)
    arjun = _guest(
        seeder,
        "promise-refund",
        "Arjun Mehta",
        "arjun.mehta@example.in",
        now - timedelta(days=700),
        country="IN",
        city="Pune",
        tier="Silver",
    )
    wrote = _at(day, 8, 40, KOLKATA)
    case = case_create(
        customer=arjun,
        subject="No heating in room 412, Lastmile Hotel Manchester",
        now=wrote,
        team=teams["reception"],
        assignee=tomas,
        channel="email",
    )
    interaction_record(
        customer=arjun,
        case=case,
        channel="email",
        direction="inbound",
        occurred_at=wrote,
        now=wrote,
        body="The heating in room 412 did not work for two nights and nobody could fix it. The "
        "room was freezing and we hardly slept. I expect something back for this.",
    )
    terms = {"refund_amount": 60, "currency": "GBP", "reason": "no heating, 2 nights"}
    common = {
        "case": case,
        "text": "A goodwill refund of £60 to your card within 2 working days",
        "terms": terms,
        "due_at": wrote + timedelta(days=2),
        "team": teams["reception"],
        "channel": "phone",
        "recorded_via": "demo",
    }
    tried = wrote + timedelta(minutes=50)
    # Tomás has no refund authority: the console told him "needs a lead with authority";
    # rather than ask for an exception, he hands the call to his lead, who has it.
    with suppress(PolicyConflict):
        promise_record(**common, actor=tomas, now=tried)
    called = tried + timedelta(minutes=20)
    promise = promise_record(**common, actor=sofia, override=True, now=called)
    interaction_record(
        customer=arjun,
        case=case,
        channel="phone",
        direction="outbound",
        occurred_at=called + timedelta(minutes=5),
        now=called + timedelta(minutes=5),
        body="Called Mr Mehta: apologised, offered a £60 goodwill refund; he accepted.",
        actor=sofia,
    )
    refunded = called + timedelta(days=1, hours=2)
    promise_keep(promise=promise, actor=tomas, note="refund issued, ref RF-88213", now=refunded)
    case_set_status(case=case, status="solved", actor=tomas, now=refunded + timedelta(minutes=3))
    return (
        f"  {case.ref:<9} goodwill refund   £60 blocked for the agent, overridden by the "
        f"reception lead (authority £100), kept (promise #{promise.pk})"
    )


def _parcel(seeder: Any, now: datetime) -> str:
    """A jacket to post back within two days: the courier missed it; broken, the lead
    follows up."""
    users, teams = seeder.users, seeder.teams
    tomas = users["reception"]
    tom = _guest(
        seeder,
        "promise-parcel",
        "Tom Hughes",
        "tom.hughes@example.co.uk",
        now - timedelta(days=300),
        country="GB",
        city="Leeds",
    )
    wrote = _at(_day(now - timedelta(days=4)), 9, 15)
    case = case_create(
        customer=tom,
        subject="Left my jacket in room 208, York Minster",
        now=wrote,
        team=teams["reception"],
        assignee=tomas,
        channel="chat",
    )
    interaction_record(
        customer=tom,
        case=case,
        channel="chat",
        direction="inbound",
        occurred_at=wrote,
        now=wrote,
        body="Hi, I think I left my navy jacket in room 208 yesterday. Could you post it to me?",
    )
    answered = wrote + timedelta(minutes=12)
    interaction_record(
        customer=tom,
        case=case,
        channel="chat",
        direction="outbound",
        occurred_at=answered,
        now=answered,
        body="Found it! We'll post it to your home address by tracked courier.",
        actor=tomas,
    )
    due = answered + timedelta(days=2)
    by = due.astimezone(LONDON)  # the weekday is the deadline's, never written by hand
    promise = promise_record(
        case=case,
        text=f"We'll post your jacket by tracked courier, with you by {by:%A} {by.day} {by:%B}",
        terms={"item": "navy jacket", "delivery": "tracked courier"},
        due_at=due,
        team=teams["reception"],
        channel="chat",
        actor=tomas,
        recorded_via="demo",
        now=answered + timedelta(minutes=1),
    )
    promise_break(
        promise=promise,
        actor=tomas,
        reason="the courier missed the pickup; the parcel goes out on the next collection",
        now=answered + timedelta(days=1, hours=6),
    )
    return (
        f"  {case.ref:<9} parcel            promise broken (courier missed the pickup): "
        f"follow-up open for the reception lead (promise #{promise.pk})"
    )
