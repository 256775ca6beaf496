"""The jobs app's part of the seeded demo: the delivery last mile, end to end, and the
engineer's visit of the day.

Everything goes through the services, at the time it happens (``now=`` in the past):

- the field team's slots: two-hour windows today and on the next two working days;
- Tom Baker's washing machine: booked three days ago, moved by Tom in his portal yesterday
  to this morning's window; this morning the driver starts the run (Tom gets the departure
  notice with the ETA, the tracking link and his PIN), the van is held up (an ETA 40 minutes
  past the window: one delay notice, a recovery loop for the field team), catches up (back
  on time: the loop closes, Tom is told); at the door Tom signs, the job completes (the visit
  loop closes, the invoice is issued and emailed on the case, the follow-up loop opens for
  two business days later) and he pays on the card terminal;
- Margaret Ellis's diagnostics visit (the journeys demo's case, "Wi-Fi drops in the evenings
  again"): on her call the call centre promises an engineer's call back within 30 minutes,
  kept in 10; the engineer books a visit in the next window, sets off (her departure notice),
  and at the door splits the Wi-Fi test into two parts (a scan now, the load test in the
  evening, when the drops happen) and shows her the new price on his page; she signs on the
  page to accept, signs for the visit, and pays on the card terminal at the door. Part two,
  the evening visit, is the next stop on the field agent's "stops" page (/jobs/driver/) with
  her case's promises and what to collect.
"""

from __future__ import annotations

import base64
import io
import math
from datetime import datetime, time, timedelta
from typing import Any

from PIL import Image, ImageDraw

from lastmile.cases.models import Case
from lastmile.cases.services import case_create
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.timeline import interaction_record
from lastmile.invoices.models import Invoice
from lastmile.invoices.services import payment_record
from lastmile.jobs import runs, services
from lastmile.jobs.models import Slot
from lastmile.jobs.services import LineIn
from lastmile.portal.services import portal_job_slot
from lastmile.promises.services import promise_keep, promise_record


def signature(wave: float = 3.2) -> str:
    """A signature as the driver's page stores one: a PNG data URL of a pen stroke (``wave``
    makes one customer's hand unlike another's)."""
    image = Image.new("RGB", (300, 90), "white")
    pen = ImageDraw.Draw(image)
    stroke = [(18 + 4 * k, 55 - round(22 * math.sin(k / wave)) + (k % 7)) for k in range(62)]
    pen.line(stroke, fill=(20, 30, 90), width=3, joint="curve")
    pen.line([(40, 70), (260, 66)], fill=(20, 30, 90), width=2)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


WASHER = [
    LineIn(
        sku="WM-8KG",
        description="Washing machine, 8 kg",
        quantity=1,
        unit_price=39900,
        currency="GBP",
    ),
    LineIn(
        sku="INST",
        description="Installation and removal of the old one",
        quantity=1,
        unit_price=3500,
        currency="GBP",
    ),
]
DIAGNOSTICS = [
    LineIn(
        sku="DIAG",
        description="Home diagnostics visit",
        quantity=1,
        unit_price=4900,
        currency="GBP",
    ),
    LineIn(
        sku="WIFI-TEST",
        description="Wi-Fi fault test",
        quantity=1,
        unit_price=3500,
        currency="GBP",
    ),
]
# On site the engineer splits the Wi-Fi test (line 1) in two: the scan now, and the load test
# on an evening visit, when the drops happen. Margaret accepts the new price by signing.
TEST_SPLIT = [
    {
        "op": "split",
        "line": 1,
        "parts": [
            {"description": "Wi-Fi fault test, part 1: interference scan", "unit_price": 2500},
            {
                "description": "Wi-Fi fault test, part 2: evening load test (return visit)",
                "unit_price": 2500,
            },
        ],
    }
]
PART_TWO = [
    LineIn(
        sku="WIFI-TEST",
        description="Wi-Fi fault test, part 2: evening load test (paid on the first visit)",
        quantity=1,
        unit_price=0,
        currency="GBP",
    ),
]


def seed(seeder: Any) -> list[str]:
    team = seeder.teams.get("field")
    driver = seeder.users.get("field")
    if team is None or driver is None:
        return []
    clock = StoryClock(seeder.now, services.zone_of(team))
    slots = _slots(team, clock, now=seeder.now - timedelta(days=4))
    lines = ["jobs: " + f"{len(slots)} slots of the field team (two hours each)"]
    lines += _delivery(seeder, team, driver, clock)
    lines += _visit(seeder, team, driver, clock)
    return lines


class StoryClock:
    """When the story's moments fall, all on the team's local day of seeding.

    The story is told around ``hour`` (the local hour of seeding): the morning run leaves
    3.5 hours before it, this morning's window ends an hour before it, the one under way
    started an hour before it, and the next stop starts an hour after it. Seeded late in the
    evening, the next stop is moved to before midnight (a shorter window); seeded in the
    small hours, the moments before ``hour`` are squeezed, in order, between local midnight
    and now, so every window stays on the day the driver's page shows."""

    LEAD = timedelta(hours=3, minutes=30)

    def __init__(self, now: datetime, zone: Any) -> None:
        local = now.astimezone(zone)
        self.hour = local.replace(minute=0, second=0, microsecond=0)
        self.day = local.date()
        self.midnight = datetime.combine(self.day, time(0), tzinfo=zone)
        self.day_end = datetime.combine(self.day + timedelta(days=1), time(0), tzinfo=zone)
        self.now = max(now, self.midnight + timedelta(minutes=1))

    def at(self, offset: timedelta) -> datetime:
        """The moment ``offset`` from the story's hour (at most the hour: the past)."""
        moment = self.hour + offset
        start = self.hour - self.LEAD
        if start >= self.midnight:
            return moment
        scale = (self.now - self.midnight) / self.LEAD
        return self.midnight + (moment - start) * scale

    def under_way(self) -> tuple[datetime, datetime]:
        """The window under way: from an hour before the hour to the next stop's start."""
        return self.at(-timedelta(hours=1)), self.next_stop()[0]

    def next_stop(self) -> tuple[datetime, datetime]:
        """The next stop's window: an hour after the hour, and at least 35 minutes after now
        (on the quarter hour), so it is booked before its 30-minute cut-off however late in
        the hour the demo is seeded; two hours long, before midnight."""
        last = self.day_end - timedelta(minutes=1)
        soonest = self.now + timedelta(minutes=35)
        soonest += timedelta(minutes=-soonest.minute % 15, seconds=-soonest.second)
        soonest = soonest.replace(microsecond=0)
        start = min(
            max(self.hour + timedelta(hours=1), soonest), self.day_end - timedelta(minutes=30)
        )
        return start, min(start + timedelta(hours=2), last)


def _slots(team: Any, clock: StoryClock, *, now: datetime) -> list[Slot]:
    """This morning's window (ending an hour ago), the one under way (an engineer's urgent
    round), this afternoon's, and three a day on the next two days, four places each. A
    same-day window takes bookings until 30 minutes before it starts."""
    today = [
        (clock.at(-timedelta(hours=3)), clock.at(-timedelta(hours=1))),
        clock.under_way(),
        clock.next_stop(),
    ]
    later = []
    for day in (1, 2):
        base = (clock.hour + timedelta(days=day)).replace(hour=8)
        later += [(base + timedelta(hours=h), base + timedelta(hours=h + 2)) for h in (0, 3, 6)]
    return [
        services.slot_create(
            team=team,
            starts_at=s,
            ends_at=e,
            capacity=4,
            cutoff_minutes=30 if (s, e) in today else 120,
        )
        for s, e in today + later
    ]


def _delivery(seeder: Any, team: Any, driver: Any, clock: StoryClock) -> list[str]:
    booked = seeder.now - timedelta(days=3)
    tom = customer_resolve(
        identities=[identity_normalize("email", "tom.baker@example.net")],
        now=booked,
        display_name="Tom Baker",
    ).customer
    case = case_create(
        customer=tom,
        subject="Washing machine: delivery and installation",
        team=team,
        channel="web",
        now=booked,
    )
    interaction_record(
        customer=tom,
        case=case,
        channel="web",
        direction="inbound",
        body="Order 58213 placed: washing machine with installation.",
        occurred_at=booked,
        now=booked,
        data={"automated": True},  # the shop's order event: nobody asked anything
    )
    first = clock.hour + timedelta(days=1)
    first = first.replace(hour=8)
    job = services.job_create(
        kind="delivery",
        customer=tom,
        team=team,
        window_start=first,
        window_end=first + timedelta(hours=2),
        address="14 Park Lane, York YO1 7HY",
        notes="Ground floor flat; the old machine goes back on the van.",
        lines=WASHER,
        proofs=["signature"],
        case=case,
        assignee=driver,
        actor=None,
        now=booked,
    )
    # Yesterday, in his portal, Tom moved it to this morning's window.
    morning = Slot.objects.get(team=team, starts_at=clock.at(-timedelta(hours=3)))
    job = portal_job_slot(
        customer=tom, job=job, slot_id=str(morning.pk), now=seeder.now - timedelta(days=1)
    )
    job = services.job_stop_order_set(
        job=job, stop_order=1, actor=None, now=seeder.now - timedelta(days=1)
    )
    # This morning: the run starts, the van is held up, then catches up.
    left = clock.at(-timedelta(hours=3, minutes=30))
    runs.run_start(driver=driver, day=clock.day, actor=driver, now=left)
    services.job_start(job=job, actor=driver, now=clock.at(-timedelta(hours=3, minutes=29)))
    held_up = clock.at(-timedelta(hours=2, minutes=40))
    runs.eta_update(
        job=job,
        eta=morning.ends_at + timedelta(minutes=40),
        actor=driver,
        now=held_up,
        source="run",
    )
    at_door = clock.at(-timedelta(hours=1, minutes=25))
    runs.eta_update(
        job=job,
        eta=at_door,
        actor=driver,
        now=clock.at(-timedelta(hours=2, minutes=15)),
        source="run",
    )
    services.job_arrive(job=job, actor=driver, now=at_door)
    services.proof_add(
        job=job,
        kind="signature",
        data=signature(),
        actor=driver,
        now=clock.at(-timedelta(hours=1, minutes=5)),
    )
    done = services.job_complete(
        job=job, actor=driver, now=clock.at(-timedelta(hours=1, minutes=4))
    )
    invoice = Invoice.objects.get(source=f"job:{done.pk}")
    payment_record(
        invoice=invoice,
        reference="TERM-58213-0907",
        amount=invoice.total,
        method="card_terminal",
        outcome="accepted",
        actor=driver,
        now=clock.at(-timedelta(hours=1, minutes=2)),
    )
    return [
        f"  {case.ref:<9} {'delivery':<17} Tom Baker's washing machine: moved in his portal, "
        f"departure and delay notices, back on time, signed, invoice {invoice.number} "
        f"paid at the door, follow-up loop open"
    ]


def _visit(seeder: Any, team: Any, driver: Any, clock: StoryClock) -> list[str]:
    """Margaret's diagnostics visit: the call-back promised and kept, the visit in the window
    under way with the test split on site with her consent and the card payment at the
    door, and part two this afternoon as the engineer's next stop."""
    customer = seeder.customers.get("story-visit")
    if customer is None:
        return []
    case = (
        Case.objects.filter(customer=customer, subject="Wi-Fi drops in the evenings again")
        .order_by("-pk")
        .first()
    )
    called = seeder.now - timedelta(hours=3)  # when the journeys demo took her call
    call_centre = seeder.users.get("front") or driver
    promise = promise_record(
        case=case,
        customer=customer,
        text="An engineer will call you back within 30 minutes",
        terms={"callback_minutes": 30},
        due_at=called + timedelta(minutes=31),
        team=team,
        channel="phone",
        actor=call_centre,
        recorded_via="demo",
        now=called + timedelta(minutes=1),
    )
    called_back = called + timedelta(minutes=11)
    promise_keep(
        promise=promise,
        actor=driver,
        note=f"the engineer called back at {called_back.astimezone(services.zone_of(team)):%H:%M}, "
        "10 minutes after the promise",
        now=called_back,
    )
    window, window_end = clock.under_way()
    job = services.job_create(
        kind="visit",
        customer=customer,
        team=team,
        window_start=window,
        window_end=window_end,
        address="7 Bootham Terrace, York YO30 7BW",
        notes="Router in the hall cupboard; Wi-Fi drops between 7 and 10pm.",
        lines=DIAGNOSTICS,
        proofs=["signature"],
        case=case,
        assignee=driver,
        actor=driver,
        now=called_back + timedelta(minutes=2),
    )
    job = services.job_stop_order_set(
        job=job, stop_order=2, actor=driver, now=called_back + timedelta(minutes=2)
    )
    # The engineer sets off (Margaret's departure notice with the ETA), and is at the door.
    left = clock.at(-timedelta(hours=1, minutes=15))
    at_door = clock.at(-timedelta(minutes=50))
    runs.eta_update(
        job=job,
        eta=at_door,
        actor=driver,
        now=left,
        source="run",
        depart=True,
    )
    services.job_start(job=job, actor=driver, now=left)
    services.job_arrive(job=job, actor=driver, now=at_door)
    # On site: the test split in two, the new price shown, and Margaret signs to accept.
    change = services.change_propose(
        job=job,
        ref="wifi-test-split",
        ops=TEST_SPLIT,
        note="The drops happen in the evening: the load test must run then.",
        actor=driver,
        now=clock.at(-timedelta(minutes=38)),
    )
    services.change_accept(
        job=job,
        ref=change.ref,
        via="signature",
        data=signature(wave=2.6),
        actor=driver,
        now=clock.at(-timedelta(minutes=36)),
    )
    services.proof_add(
        job=job,
        kind="signature",
        data=signature(wave=2.6),
        actor=driver,
        now=clock.at(-timedelta(minutes=20)),
    )
    done = services.job_complete(job=job, actor=driver, now=clock.at(-timedelta(minutes=19)))
    invoice = Invoice.objects.get(source=f"job:{done.pk}")
    payment_record(
        invoice=invoice,
        reference="TERM-ELLIS-0412",
        amount=invoice.total,
        method="card_terminal",
        outcome="accepted",
        actor=driver,
        now=clock.at(-timedelta(minutes=17)),
    )
    # Part two: the evening load test, the next stop on the engineer's page.
    evening, evening_end = clock.next_stop()
    planned = clock.at(-timedelta(minutes=18))
    again = services.job_create(
        kind="visit",
        customer=customer,
        team=team,
        window_start=evening,
        window_end=evening_end,
        address="7 Bootham Terrace, York YO30 7BW",
        notes="Part two of the Wi-Fi test Margaret agreed on site (paid): run the load test "
        "while the drops happen, 7–10pm.",
        lines=PART_TWO,
        proofs=["signature"],
        case=case,
        assignee=driver,
        actor=driver,
        now=planned,
    )
    services.job_stop_order_set(job=again, stop_order=3, actor=driver, now=planned)
    ref = case.ref if case is not None else "—"
    money = f"GBP {change.total_before / 100:.2f} → GBP {change.total_after / 100:.2f}"
    return [
        f"  {ref:<9} {'visit':<17} Margaret Ellis's diagnostics visit: call back within 30 "
        f"minutes promised and kept in 10, the Wi-Fi test split on site with her signed "
        f"consent ({money}), invoice {invoice.number} paid by card at the door",
        f"  {ref:<9} {'visit':<17} part two, the evening load test, is the next stop on the "
        f"field engineer's page (/jobs/driver/)",
    ]
