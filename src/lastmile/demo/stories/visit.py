"""The visit story: Margaret Ellis's home diagnostics visit went well, closed inside its
window.
"""

from __future__ import annotations

from datetime import timedelta

from lastmile.demo.builder import Builder
from lastmile.demo.plan import local_at, local_date


def plan(b: Builder) -> None:
    """A home diagnostics visit that went well, closed inside its window."""
    now = b.now
    who = b.person(
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
    case = b.new_case_key()
    f0 = local_at(local_date(now - timedelta(days=5)), 11, 20)
    visit_day = local_date(now - timedelta(days=2))
    start, end = local_at(visit_day, 10, 0), local_at(visit_day, 12, 0)
    window = f"{visit_day:%a %d %b}, 10:00–12:00"
    b.plan.dates["visit"] = start
    s = b.step
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
    visit = b.new_loop_key()
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
        local_at(visit_day - timedelta(days=1), 17, 0),
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
    thanks = local_at(visit_day + timedelta(days=1), 8, 47)
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
    b.plan.stories["visit"] = (
        case,
        "home diagnostics visit closed inside its window; customer thrilled; case solved",
    )
