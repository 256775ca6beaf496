"""The demo seed: four real stories, every SLA state in every inbox, deterministic, once only."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import pytest
from django.db.models import Q

from lastmile.cases.models import Case
from lastmile.core.models import AuditEntry
from lastmile.customers.identities import identity_normalize
from lastmile.customers.models import Channel, Customer, Interaction
from lastmile.customers.selectors import customer_visible, timeline
from lastmile.demo import texts
from lastmile.demo.plan import LONDON
from lastmile.demo.seed import ALREADY, seed_demo
from lastmile.demo.stories import build_plan
from lastmile.listening.models import Mention
from lastmile.loops.models import Loop, LoopEventKind, LoopKind, LoopState
from lastmile.loops.selectors import loop_explain, loop_sla_state, loops_without_policy
from lastmile.loops.services import policy_match
from lastmile.people.models import Agent, Role, Team
from lastmile.people.viewers import SYSTEM
from lastmile.portal.services import portal_message_add
from lastmile.promises.models import PolicyVersion, Promise
from tests.demo_snapshot import FAST_HASHER, NOW, demo_restored

pytestmark = pytest.mark.django_db

TEAMS = ("front", "back", "cards", "social", "reception", "membership", "field")


def seed_quietly(**kwargs):
    out: list[str] = []
    with FAST_HASHER:
        report = seed_demo(out=out.append, **kwargs)
    return report, out


def story_case(report, name: str) -> Case:
    ref = report.stories[name][0]
    return Case.objects.get(number=int(ref.split("-")[1]))


def bank_tasks(report) -> dict[str, Loop]:
    case = story_case(report, "bank")
    return {lp.team.slug: lp for lp in case.loops.filter(kind=LoopKind.TASK, state=LoopState.OPEN)}


@pytest.fixture(scope="module")
def demo(demo_snapshot, django_db_blocker):
    """One small demo for the module's two classes, rolled back after the module. The tests
    that seed a database of their own are in test_seed_demo_fresh.py: here this demo's
    transaction is still open when the module's last test runs."""
    with demo_restored(demo_snapshot, django_db_blocker) as restored:
        yield restored


class TestStories:
    def test_back_office_task_is_breached_and_reassigned_to_the_team_lead(self, demo):
        task = bank_tasks(demo.report)["back"]
        back = Team.objects.get(slug="back")

        assert task.breached_at is not None
        assert task.assignee == back.lead and back.lead.username == "back-lead"
        reassigned = task.events.get(kind=LoopEventKind.REASSIGNED)
        assert reassigned.data["action"] == "reassign_to_lead"

    def test_card_link_task_owned_by_cards_is_breached(self, demo):
        task = bank_tasks(demo.report)["cards"]

        assert task.breached_at is not None
        assert task.events.filter(kind=LoopEventKind.BREACHED).count() == 1

    def test_kyc_task_was_done_inside_its_sla(self, demo):
        case = story_case(demo.report, "bank")
        kyc = case.loops.get(title__startswith="KYC")

        assert kyc.state == LoopState.CLOSED
        assert kyc.breached_at is None

    def test_bank_customer_asking_why_they_cannot_log_in_waits_for_a_reply(self, demo):
        case = story_case(demo.report, "bank")
        last = case.interactions.order_by("-occurred_at").first()
        reply = case.loops.get(kind=LoopKind.REPLY, state=LoopState.OPEN)

        assert last.direction == "inbound" and "can't log in" in last.body
        assert reply.opened_by == last

    def test_social_rant_reply_loop_is_breached_two_days_on_and_escalated(self, demo):
        case = story_case(demo.report, "rant")
        loop = case.loops.get(kind=LoopKind.REPLY)
        first = case.interactions.order_by("occurred_at").first()

        assert case.team.slug == "social" and first.channel == "social:twitter"
        assert (NOW - first.occurred_at).days == 2
        assert not case.interactions.filter(direction="outbound").exists()
        assert loop.state == LoopState.OPEN and loop.breached_at is not None
        assert loop.sla_policy.name == "Social — public mention"
        assert loop.assignee.username == "social-lead"

    def test_hotel_guest_has_a_closed_membership_case_and_an_arrival_case_with_reception(
        self, demo
    ):
        arrival = story_case(demo.report, "hotel")
        guest = arrival.customer

        teams = dict(Case.objects.filter(customer=guest).values_list("team__slug", "status"))
        assert teams == {"membership": "closed", "reception": "open"}

    def test_reception_sees_what_membership_promised_on_the_guests_timeline(self, demo):
        guest = story_case(demo.report, "hotel").customer
        reception = Agent.objects.get(user__username="reception").user

        items = timeline(customer=guest, viewer=SYSTEM, limit=50).items
        promised = [
            i
            for i in items
            if i.actor and i.actor.username == "membership" and "Junior Suite" in i.body
        ]
        promise = Loop.objects.get(
            customer=guest, kind=LoopKind.PROMISE, title__contains="Junior Suite"
        )
        assert promised
        assert customer_visible(customer=guest, viewer=reception)
        assert promise.team.slug == "reception" and promise.state == LoopState.OPEN

    def test_home_visit_closed_before_its_deadline_on_a_solved_case(self, demo):
        case = story_case(demo.report, "visit")
        visit = case.loops.get(kind=LoopKind.VISIT)
        thanks = case.interactions.filter(direction="inbound").order_by("-occurred_at").first()

        assert case.team.slug == "field" and case.status == "solved"
        assert visit.state == LoopState.CLOSED and visit.closed_at < visit.due_at
        assert visit.breached_at is None
        assert thanks.occurred_at > visit.closed_at and "thank you" in thanks.body.lower()

    def test_open_reply_loops_cover_every_sla_state(self, demo):
        states = {
            loop_sla_state(lp, now=NOW)
            for lp in Loop.objects.filter(kind=LoopKind.REPLY, state=LoopState.OPEN)
        }

        assert {"ok", "at_risk", "breached", "paused"} <= states
        assert Loop.objects.filter(kind=LoopKind.REPLY, state=LoopState.CLOSED).exists()

    def test_every_team_has_open_loops_in_its_inbox(self, demo):
        open_by_team = set(
            Loop.objects.filter(state=LoopState.OPEN).values_list("team__slug", flat=True)
        )

        assert set(TEAMS) <= open_by_team

    def test_logins_are_an_admin_one_agent_and_one_lead_per_team(self, demo):
        roles = dict(Agent.objects.values_list("user__username", "role"))

        assert roles["demo"] == Role.ADMIN
        for slug in TEAMS:
            team = Team.objects.get(slug=slug)
            assert roles[slug] == Role.AGENT and roles[f"{slug}-lead"] == Role.LEAD
            assert team.lead.username == f"{slug}-lead"
            assert team.agents.filter(user__username=slug).exists()
            assert team.lead.email == f"{slug}-lead@demo.lastmile.local"
            with FAST_HASHER:
                assert team.lead.check_password("demo")

    def test_summary_names_the_story_cases_and_the_logins(self, demo):
        text = "\n".join(demo.out)

        for ref, _ in demo.report.stories.values():
            assert ref in text
        assert "demo — admin" in text and "password 'demo'" in text

    def test_seeding_again_adds_nothing(self, demo):
        before = (
            Customer.objects.count(),
            Case.objects.count(),
            Interaction.objects.count(),
            Loop.objects.count(),
        )

        report, out = seed_quietly(seed=7, customers=12, now=NOW)

        assert report is None and out == [ALREADY]
        assert before == (
            Customer.objects.count(),
            Case.objects.count(),
            Interaction.objects.count(),
            Loop.objects.count(),
        )

    def test_the_seeded_authority_is_audited_at_the_seeds_now(self, demo):
        entries = AuditEntry.objects.filter(object_type="people.agent", actor_label="system")
        assert entries.count() == 2
        assert {e.at for e in entries} == {NOW}

    def test_the_database_holds_exactly_the_plan(self, demo):
        plan = build_plan(seed=7, customers=12, now=NOW)
        names = {p.key: p.name for p in plan.people}
        planned = sorted(
            [
                (names[s.customer], s.channel, s.direction, s.body)
                for s in plan.steps
                if s.action == "message"
            ]
            + [(names[c.customer], c.channel, c.direction, c.body) for c in plan.chatter]
        )

        stored = Counter(
            Interaction.objects.values_list(
                "customer__display_name", "channel", "direction", "body"
            )
        )

        # Every planned interaction is stored once; the apps' own demo parts (mail, messaging,
        # mentions, promises) add theirs beside them.
        assert not Counter(planned) - stored
        assert all(stored[item] == 1 for item in set(planned) if planned.count(item) == 1)


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = [date(2026, month, 1).strftime("%B") for month in range(1, 13)]
# A weekday (full or short), then maybe its date: "Tue 01 Dec", "Tuesday 1 December",
# "Sat, 05 Dec 2026". "Saturdays" (a habit, not a day) is not a weekday here.
WEEKDAY_DATE = re.compile(
    r"\b(?P<wd>" + "|".join([*WEEKDAYS, *(d[:3] for d in WEEKDAYS)]) + r")\b"
    r"(?:,? (?P<day>\d{1,2}) (?P<month>" + "|".join(m[:3] for m in MONTHS) + r")[a-z]*"
    r"(?: (?P<year>\d{4}))?)?"
)
CURRENCIES = {
    "GBP": re.compile(r"£|\bGBP\b"),
    "INR": re.compile(r"₹|\bINR\b|\bRs\.? ?\d"),
    "EUR": re.compile(r"€|\bEUR\b"),
    "USD": re.compile(r"\$ ?\d|\bUSD\b"),
}


def demo_texts():
    """Every text the demo wrote, with the team it was written for (None when on no team):
    (where, team slug, text)."""
    for i in Interaction.objects.select_related("case__team"):
        team = i.case.team.slug if i.case and i.case.team else None
        yield f"interaction {i.pk}", team, i.body
    for c in Case.objects.select_related("team"):
        yield f"case {c.ref}", c.team.slug if c.team else None, c.subject
    for lp in Loop.objects.select_related("team"):
        yield f"loop {lp.pk}", lp.team.slug if lp.team else None, lp.title
    for pr in Promise.objects.select_related("team"):
        yield f"promise {pr.pk}", pr.team.slug, pr.text + " " + str(pr.terms.get("currency", ""))
    for pv in PolicyVersion.objects.select_related("policy__team"):
        team = pv.policy.team.slug if pv.policy.team else None
        yield f"policy {pv.policy.key}", team, f"{pv.policy.title} {pv.applies_when} {pv.text}"
    for m in Mention.objects.all():
        yield f"mention {m.pk}", "social", m.text


def written_date(m: re.Match[str], near: date) -> date:
    """The date of a WEEKDAY_DATE match; without a year, in the year nearest ``near``."""
    month = [x[:3] for x in MONTHS].index(m["month"]) + 1
    years = [int(m["year"])] if m["year"] else [near.year - 1, near.year, near.year + 1]
    return min((date(y, month, int(m["day"])) for y in years), key=lambda d: abs(d - near))


def weekday_faults(text: str, near: date) -> list[str]:
    """Each weekday in ``text`` that has no date beside it, or whose date falls on another
    day (a date without a year is taken in the year that puts it nearest ``near``)."""
    faults = []
    for m in WEEKDAY_DATE.finditer(text):
        if not m["day"]:
            faults.append(f"{m['wd']!r} with no date")
            continue
        day = written_date(m, near)
        if day.strftime("%a") != m["wd"][:3]:
            faults.append(f"{m.group(0)!r} is a {day:%A}")
    return faults


class TestConfigurationAndTexts:
    """The demo's SLA policies give every loop it opens, and every message it can receive, a
    deadline (the admin's SLA configuration gaps page is empty for it); its texts agree with
    its dates, and each business speaks in one currency."""

    def test_no_seeded_open_loop_goes_without_a_deadline_for_want_of_a_policy(self, demo):
        uncovered = [
            (lp.kind, lp.channel, lp.team.slug if lp.team else "", loop_explain(lp, now=NOW))
            for lp in Loop.objects.filter(state=LoopState.OPEN, sla_seconds__isnull=True)
        ]

        assert uncovered == []
        assert not loops_without_policy().exists()

    def test_every_channel_and_team_gets_a_reply_and_a_next_reply_deadline(self, demo):
        seeded = set(
            Interaction.objects.filter(direction="inbound").values_list("channel", flat=True)
        )
        known = {c for c in Channel.values if c != Channel.SOCIAL} | {"social:twitter"}
        assert seeded <= known | {c for c in seeded if c.startswith("social:")}

        for channel in sorted(known | seeded):
            for team in Team.objects.all():
                policy = policy_match(kind=LoopKind.REPLY, channel=channel, team_id=team.pk)
                assert policy is not None, (channel, team.slug)
                assert policy.first_reply_minutes and policy.next_reply_minutes, policy.name

    def test_every_kind_opened_without_a_deadline_of_its_own_gets_one(self, demo):
        for kind in (LoopKind.TASK, LoopKind.FOLLOWUP, LoopKind.RECOVERY):
            for team in Team.objects.all():
                policy = policy_match(kind=kind, team_id=team.pk)
                assert policy is not None and policy.resolution_minutes, (kind, team.slug)

    def test_a_message_from_the_portal_opens_a_reply_loop_with_a_deadline(self, demo):
        case = (
            Case.objects.filter(customer__isnull=False)
            .exclude(status="closed")
            .exclude(loops__kind=LoopKind.REPLY, loops__state=LoopState.OPEN)
            .order_by("pk")
            .first()
        )

        message = portal_message_add(customer=case.customer, case=case, body="Any news?", now=NOW)

        loop = Loop.objects.get(opened_by=message)
        assert loop.channel == "portal" and loop.due_at is not None
        assert loop.sla_policy.name == "Customer portal"

    def test_every_weekday_in_a_demo_text_comes_with_its_date_and_matches_it(self, demo):
        faults = [
            (where, text[:90], fault)
            for where, _team, text in demo_texts()
            for fault in weekday_faults(text, NOW.date())
        ]

        assert faults == []

    def test_a_customer_announcing_a_stay_or_an_arrival_dates_it_after_writing(self, demo):
        announced = Interaction.objects.filter(direction="inbound").filter(
            Q(body__contains="we land at") | Q(body__contains="we're staying at")
        )
        checked, before = 0, []
        for i in announced:
            written = i.occurred_at.astimezone(LONDON).date()
            for m in WEEKDAY_DATE.finditer(i.body):
                if m["day"]:
                    checked += 1
                    if written_date(m, written) < written:
                        before.append((written, i.body[:80]))

        assert checked and before == []

    def test_no_business_mixes_currencies_and_the_bank_counts_in_pounds(self, demo):
        brand = {slug: name for slug, _, name in texts.TEAMS}
        seen: dict[str, set[str]] = {}
        for _where, team, text in demo_texts():
            for code, pattern in CURRENCIES.items():
                if pattern.search(text):
                    seen.setdefault(brand.get(team, "(no team)"), set()).add(code)

        assert {b: codes for b, codes in seen.items() if len(codes) > 1} == {}
        assert seen["Lastmile Bank"] == {"GBP"}
        assert set().union(*seen.values()) == {"GBP"}


# --- the plan: pure, deterministic, scales ---------------------------------------------------


def test_the_same_seed_and_now_give_the_same_plan():
    assert build_plan(seed=42, customers=40, now=NOW) == build_plan(seed=42, customers=40, now=NOW)


def test_another_seed_gives_other_customers():
    a = [p.name for p in build_plan(seed=1, customers=40, now=NOW).people]
    b = [p.name for p in build_plan(seed=2, customers=40, now=NOW).people]

    assert a != b


def test_full_size_plan_has_thousands_of_interactions_over_thirty_days_and_scales():
    small = build_plan(seed=42, customers=30, now=NOW)
    full = build_plan(seed=42, customers=300, now=NOW)
    times = [s.at for s in full.steps] + [c.at for c in full.chatter]

    assert full.interaction_count >= 3000
    assert 5 * small.interaction_count < full.interaction_count
    assert (NOW - min(times)).days == 29 and max(times) <= NOW
    assert (
        len(
            {c for s in full.steps if s.action == "message" for c in [s.channel]}
            | {c.channel for c in full.chatter}
        )
        >= 5
    )


def test_every_planned_identity_is_valid_at_the_edge():
    plan = build_plan(seed=42, customers=300, now=NOW)

    for person in plan.people:
        for kind, network, value in person.identities:
            identity_normalize(kind, value, network)  # raises on a bad email, phone or handle
