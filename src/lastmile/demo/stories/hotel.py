"""The hotel story: membership promised Priya Raghavan an upgrade and a late checkout;
reception sees the promise on her timeline on arrival day.
"""

from __future__ import annotations

from datetime import timedelta

from lastmile.demo.builder import Builder
from lastmile.demo.plan import LONDON, day_label, local_at, local_date


def plan(b: Builder) -> None:
    """Membership promised an upgrade; reception sees it on the timeline on arrival day."""
    now = b.now
    who = b.person(
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
        arrival = local_at(today, 16, 0)
    else:  # a late arrival: two hours from now, on the quarter hour
        later = now + timedelta(hours=2)
        arrival = later.replace(minute=later.minute - later.minute % 15) + timedelta(minutes=15)
    checkout = arrival.astimezone(LONDON).date() + timedelta(days=3)
    booking, hotel = "HB-58213", "Lastmile Hotel Edinburgh"
    s = b.step
    booked = now - timedelta(days=24, hours=3)
    s(
        booked,
        "message",
        who,
        channel="email",
        direction="outbound",
        body=f"Booking confirmed {booking}: {hotel}, Deluxe King, 3 nights from {day_label(arrival)}. "
        "Gold member rate applied.",
        data={"template": "booking_confirmation", "booking": booking},
    )
    m0 = local_at(local_date(now - timedelta(days=9)), 10, 5)
    case = b.new_case_key()
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
        f"{day_label(arrival)} for 3 nights (booking {booking}) — it's our 10th wedding anniversary. Is there "
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
        f"upgrade to a Junior Suite for your stay from {day_label(arrival)}, and late checkout until 14:00 on "
        f"{checkout.strftime('%a %d %b')}. I've added both to booking {booking} and let the team at "
        f"{hotel} know.\n\nWarm regards,\nHannah Moore\nLastmile Rewards",
    )
    s(
        m1 + timedelta(minutes=3),
        "loop",
        who,
        loop=b.new_loop_key(),
        kind="promise",
        team="reception",
        opener="membership",
        visible=True,
        due_at=arrival,
        title=f"Junior Suite upgrade + 14:00 late checkout for {booking} (promised by Membership)",
        reason="Promised by Hannah Moore (Membership) by email",
    )
    m2 = local_at(local_date(m0) + timedelta(days=1), 15, 10)
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
    rc = b.new_case_key()
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
    b.plan.stories["hotel"] = (
        rc,
        "arrival today; membership's promise (upgrade + late checkout) is on "
        "the same timeline and an open promise loop for reception",
    )
    b.plan.stories["hotel-membership"] = (
        case,
        "membership conversation (closed) behind the hotel arrival",
    )
