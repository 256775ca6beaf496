"""The journeys app's part of the seeded demo (called by lastmile.demo.seed after the core stories).

The shipped templates are loaded, and the bank story runs as an "Open a current account"
journey. The story's own tasks (KYC, closed; online access and card linking, open and
overdue) were opened on the case before this runs, so the journey takes them in rather than
opening the same work twice: KYC done with its close reason as the hand-off note, the
account created (the note carries the account details to the next teams), "enable online
access" open with the back office — nobody enabled it — and the card link open with Cards.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from lastmile.cases.services import case_create, case_update
from lastmile.customers.services.timeline import interaction_record
from lastmile.journeys.catalog import catalog_load
from lastmile.journeys.models import StepState
from lastmile.journeys.selectors import template_get
from lastmile.journeys.services import (
    journey_start,
    slot_zone,
    step_windows,
    step_windows_offer,
    window_words,
)
from lastmile.loops.selectors import loop_list
from lastmile.people.viewers import SYSTEM

BANK_TEMPLATE = "open-current-account"
VISIT_TEMPLATE = "home-diagnostics-visit"
FAULT_BACK = (
    "The Wi-Fi is dropping in the evenings again, same as before the engineer came. Can "
    "someone come back?"
)
REMOTE_TEST = (
    "Remote line test: noise on the line from about 19:00, cabinet side looks clean. Needs "
    "an engineer at the house; the customer picks the slot in her portal."
)
CUSTOMER_TITLE = "Your Wi-Fi dropping in the evenings: an engineer's visit"
UPLOADED = "Documents uploaded on the web: passport and council tax bill (Leeds City Council)."
ACCOUNT_OPENED = (
    "Account opened: sort code 40-12-76, account ending 4821. Visa Debit ending 7730 is on "
    "its way to the customer — link it to 4821. We told her online banking would be on "
    "within one working day, with the code by SMS."
)


def _task(loops: list[Any], prefix: str) -> Any:
    return next((lp for lp in loops if lp.title.startswith(prefix)), None)


def seed(seeder: Any) -> list[str]:
    """Templates, and the bank story's journey; returns report lines."""
    loaded = catalog_load(now=seeder.now)
    lines = [f"journeys: {len(loaded)} templates ({', '.join(t.name for t, _ in loaded)})"]
    lines += _bank(seeder)
    lines += _visit_again(seeder)
    return lines


def _bank(seeder: Any) -> list[str]:
    story = getattr(seeder.plan, "stories", {}).get("bank")
    if story is None:
        return []
    lines = []
    case = seeder.cases[story[0]]
    tasks = list(loop_list(viewer=SYSTEM, now=seeder.now, case=case, kind="task"))
    kyc = _task(tasks, "KYC")
    online = _task(tasks, "Enable online banking")
    card = _task(tasks, "Link Visa Debit")
    linked = {
        key: loop
        for key, loop in (("kyc", kyc), ("enable_online_access", online), ("link_debit_card", card))
        if loop is not None
    }
    done_before = {"upload_documents": UPLOADED, "create_account": ACCOUNT_OPENED}
    if "kyc" not in linked:
        done_before["kyc"] = "KYC passed: ID and address verified."
    taken_in = [lp for lp in linked.values() if lp.state == "open"]
    # Taken in just after the last of the story's tasks was opened by hand.
    at = max((lp.opened_at for lp in taken_in), default=seeder.now - timedelta(hours=1))
    journey = journey_start(
        template=template_get(slug=BANK_TEMPLATE),
        case=case,
        actor=seeder.users.get("back"),
        linked=linked,
        done_before=done_before,
        now=min(at + timedelta(minutes=2), seeder.now),
    )
    steps = list(journey.steps.select_related("team"))
    done = sum(1 for s in steps if s.state == StepState.DONE)
    open_steps = ", ".join(
        f"{s.title} ({s.team.name if s.team is not None else 'no team'})"
        for s in steps
        if s.state == StepState.OPEN
    )
    lines.append(
        f"  {case.ref:<9} {'bank journey':<17} '{journey.name}': {done} of {len(steps)} steps "
        f"done; open: {open_steps}"
    )
    return lines


def _visit_again(seeder: Any) -> list[str]:
    """Margaret's fault is back: a second visit. The field team offers her two-hour windows
    on the next two working days; she picks one in her portal, and the visit is due at its
    end."""
    customer = seeder.customers.get("story-visit")
    team = seeder.teams.get("field")
    if customer is None or team is None:
        return []
    called = seeder.now - timedelta(hours=3)
    case = case_create(
        customer=customer,
        subject="Wi-Fi drops in the evenings again",
        team=team,
        channel="phone",
        actor=seeder.users.get("field"),
        now=called,
    )
    interaction_record(
        customer=customer,
        case=case,
        channel="phone",
        direction="inbound",
        body=FAULT_BACK,
        occurred_at=called,
        now=called,
    )
    case_update(case=case, customer_title=CUSTOMER_TITLE, now=called)
    started = called + timedelta(minutes=20)
    journey = journey_start(
        template=template_get(slug=VISIT_TEMPLATE),
        case=case,
        actor=seeder.users.get("field"),
        done_before={"remote_test": REMOTE_TEST},
        now=started,
    )
    slot = journey.steps.select_related("journey__case__customer").get(key="choose_slot")
    offered = step_windows_offer(
        step=slot,
        windows=visit_windows(after=started, zone=slot_zone(slot)),
        actor=seeder.users.get("field"),
        now=started + timedelta(minutes=5),
    )
    first = window_words(slot, *step_windows(offered)[0])
    return [
        f"  {case.ref:<9} {'visit journey':<17} '{journey.name}' for {customer.display_name}: "
        f"remote test done, {len(offered.windows)} visit windows offered in her portal "
        f"(first {first}); the visit is due at the end of the one she picks"
    ]


def visit_windows(*, after: datetime, zone: tzinfo) -> list[tuple[datetime, datetime]]:
    """The field team's two-hour windows on the next two working days after ``after``, in
    the team's time zone (an engineer's morning, late morning and afternoon rounds)."""
    day = after.astimezone(zone).date()
    days: list[date] = []
    while len(days) < 2:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return [
        (
            datetime.combine(d, time(start), tzinfo=zone).astimezone(UTC),
            datetime.combine(d, time(start + 2), tzinfo=zone).astimezone(UTC),
        )
        for d in days
        for start in (8, 10, 14)
    ]
