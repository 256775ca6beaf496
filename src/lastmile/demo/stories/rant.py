"""The rant story: Dan McAllister's public rant on Twitter, unanswered for two days."""

from __future__ import annotations

from datetime import timedelta

from lastmile.demo.builder import Builder


def plan(b: Builder) -> None:
    """A public rant on Twitter nobody answered for two days."""
    now = b.now
    who = b.person(
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
    case = b.new_case_key()
    t0 = now - timedelta(hours=49, minutes=13)
    s = b.step
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
    b.plan.stories["rant"] = (
        case,
        "public Twitter rant unanswered for two days (reply loop breached and "
        "reassigned to the social care lead)",
    )
