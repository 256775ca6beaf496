"""The background: ``n`` generated customers of the bank, the hotels and home services, and
their cases over the last ``DAYS`` days, some pinned so that every team's inbox shows every
SLA state, and their activity without a case (statements, page views, bot chats).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from lastmile.demo import texts
from lastmile.demo.builder import Builder
from lastmile.demo.plan import DAYS, Chatter, business_back, local_at, local_date
from lastmile.demo.stories import scenario
from lastmile.demo.texts import SCENARIOS, Scenario


def plan(b: Builder, n: int) -> None:
    """``n`` people, their cases (the pinned ones first) and their activity without a case."""
    rng = b.rng
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
            b.email_for(first, last, country) if (not has_handle or rng.random() < 0.85) else None
        )
        phone = b.phone_for(country) if rng.random() < 0.65 else None
        handle = b.handle_for(first, last) if has_handle else None
        if not (email or phone or handle):
            email = b.email_for(first, last, country)
        attrs: dict[str, str] = {}
        if "hotel" in segments:
            attrs["tier"] = rng.choice(("Blue", "Blue", "Silver", "Gold", "Platinum"))
            attrs["member_no"] = f"LMR-{rng.randrange(100000, 999999)}"
        key = b.person(
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
    pool = [k for k in keys if b.person_info[k]["handle"]]
    for i, (sc_key, channel, ago, fate) in enumerate(pinned):
        if not keys:
            break
        sc = by_key[sc_key]
        social = channel.startswith("social")
        who = (pool or keys)[i % len(pool or keys)] if social else keys[i % len(keys)]
        start = (
            business_back(b.now, ago[1], ago[0])
            if isinstance(ago, tuple)
            else b.now - timedelta(minutes=ago)
        )
        scenario.play(b, who, sc, start=start, channel=channel, fate=fate, quick=True)
    for key in keys:
        info = b.person_info[key]
        for _ in range(1 + (rng.random() < 0.45) + (rng.random() < 0.15)):
            picked = _pick_scenario(b, info)
            if picked is not None:
                scenario.play(b, key, picked, start=_random_start(b))
        _chatter_for(b, key)


def _pick_scenario(b: Builder, info: dict[str, Any]) -> Scenario | None:
    """A scenario of one of the person's segments; social ones only for people with a handle."""
    options = [
        sc
        for sc in SCENARIOS
        if sc.segment in info["segments"]
        and (info["handle"] or any(not c.startswith("social") for c in sc.channels))
    ]
    if not options:
        return None
    return b.rng.choices(options, weights=[sc.weight for sc in options])[0]


def _random_start(b: Builder) -> datetime:
    rng = b.rng
    days_ago = (DAYS - 0.5) * rng.random() ** 1.4
    local_day = local_date(b.now - timedelta(days=days_ago))
    at = local_at(local_day, rng.randint(7, 22), rng.randrange(60))
    while at > b.now - timedelta(minutes=2):
        at -= timedelta(days=1)
    return at


# -- activity without a case ------------------------------------------------------------


def _chatter_for(b: Builder, who: str) -> None:
    rng = b.rng
    info = b.person_info[who]
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
    at = b.now
    for channel, direction, body, data in out:
        if data and data.get("bot") and direction == "outbound":
            at = at + timedelta(seconds=20)
        else:
            at = _random_start(b)
        b.plan.chatter.append(
            Chatter(at=at, customer=who, channel=channel, direction=direction, body=body, data=data)
        )
