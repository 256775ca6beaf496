"""One background case from a scenario of ``texts.SCENARIOS``, from its first message to
solved, or to wherever ``now`` cuts it: ``play``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from lastmile.demo import texts
from lastmile.demo.builder import Builder
from lastmile.demo.plan import (
    LONDON,
    calendar,
    day_label,
    local_at,
    local_date,
    policy_for,
    to_minute,
)
from lastmile.demo.texts import Scenario
from lastmile.loops.business_time import add_business_time


def play(
    b: Builder,
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
    rng = b.rng
    now = b.now
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
    v = _variables(b, who, sc, agent, start)
    case = b.new_case_key()
    s = b.step

    sig = "" if channel in ("chat", "phone") or channel.startswith("social") else texts.SIGNATURE

    def fmt(template: str) -> str:
        return template.format_map(v)

    def said(template: str) -> str:  # the customer's words; a call is logged as notes
        text = fmt(template)
        return f"Call from {v['first']}: {text}" if channel == "phone" else text

    def answer(template: str) -> str:
        text = fmt(template)
        return f"Call notes ({v['agent']}): {text}" if channel == "phone" else text + fmt(sig)

    # Visits are booked for a two-hour window 1-4 days after the first reply.
    t1 = _reply_at(b, start, channel, sc, "first", fate == "late", quick)
    window_end = None
    if sc.visit:
        day = local_date(t1) + timedelta(days=rng.randint(1, 4))
        if day.weekday() == 6:
            day += timedelta(days=1)
        hour = rng.choice((8, 10, 12, 14, 16))
        w_start, window_end = local_at(day, hour, 0), local_at(day, hour + 2, 0)
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
        c1 = _customer_after(b, t1, channel, quick)
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
        last = _reply_at(b, c2, channel, sc, "next", False, quick)
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
            task = b.new_loop_key()
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
            done = to_minute(add_business_time(t1, timedelta(minutes=round(minutes * share)), cal))
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
            visit = b.new_loop_key()
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
            c1 = _customer_after(b, t1, channel, quick)
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
            t2 = _reply_at(b, c1, channel, sc, "next", rng.random() < 0.12, quick)
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
        th = _customer_after(b, last, by, quick)
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


def _variables(b: Builder, who: str, sc: Scenario, agent: str, at: datetime) -> dict[str, str]:
    rng = b.rng
    info = b.person_info[who]
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
        "date": day_label(at - timedelta(days=(days := rng.randint(1, 10)))),
        "soon": day_label(at + timedelta(days=days + 1)),
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


def _reply_at(
    b: Builder, t: datetime, channel: str, sc: Scenario, target: str, late: bool, quick: bool
) -> datetime:
    """When the agent answers a message that arrived at ``t``, on time or late against the SLA."""
    rng = b.rng
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


def _customer_after(b: Builder, t: datetime, channel: str, quick: bool) -> datetime:
    rng = b.rng
    if quick or channel == "chat":
        return t + timedelta(minutes=rng.randint(1, 6))
    if channel.startswith("social"):
        return t + timedelta(minutes=rng.randint(10, 8 * 60))
    if channel == "phone":
        return t + timedelta(hours=rng.randint(20, 72))
    return t + timedelta(minutes=rng.randint(30, 30 * 60))
