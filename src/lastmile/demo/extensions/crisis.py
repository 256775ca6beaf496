"""The crisis app's part of the seeded demo (called by lastmile.demo.seed after the core stories).

It runs after listening's demo, which seeds a week of mentions with a card-outage spike and
leaves its window on ``seeder.listening``. Nothing here is hand-made: the triggers run over
the week the way the every-minute worker would have (a catch-up to just before the outage,
then a run every 5 minutes through it), so the alert is the one the detectors raise, within
a minute of its bucket closing. Then the social-care team works the crisis room: the lead
acknowledges the alert, the agent replies to the loudest customers from a saved response
linking to the public incident note, and the lead publishes two updates, the second once
the payments work again, and resolves the alert.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from lastmile.crisis import selectors
from lastmile.crisis.detectors import BUCKET, SIGNAL_LABELS
from lastmile.crisis.models import Alert
from lastmile.crisis.services.alerts import alert_acknowledge, alert_resolve
from lastmile.crisis.services.incidents import (
    incident_note_create,
    incident_update_post,
    incident_update_publish,
)
from lastmile.crisis.services.room import mentions_reply, saved_response_create
from lastmile.crisis.services.triggers import GRACE, triggers_run
from lastmile.listening.models import WatchTerm

STATUS_SLUG = "card-payments"
RESPONSES = (
    (
        "Card outage — we know",
        "Hi {handle}, we're so sorry: some card payments are failing right now. The team is "
        "on it, and we post live updates here: {status_url}",
    ),
    (
        "Card outage — fixed",
        "Hi {handle}, card payments are working again. Sorry for the trouble it caused; if a "
        "payment was taken twice it will be refunded automatically. Details: {status_url}",
    ),
)


def seed(seeder: Any) -> list[str]:
    """Run the triggers over the seeded week and work the resulting crisis; report lines."""
    info = getattr(seeder, "listening", None)
    if not info or "spike" not in info:
        return ["crisis: no listening demo data (seeder.listening); no triggers run"]
    spike = info["spike"]
    term = WatchTerm.objects.get(pk=spike["term_id"])
    start: datetime = spike["start"]
    end: datetime = spike["end"]
    now: datetime = seeder.now

    # 1. The worker's runs: caught up to the minute before the outage, then every 5 minutes
    #    (a minute after each bucket closes) until 30 minutes after it, then up to now.
    raised: list[int] = []
    raised += triggers_run(now=start + GRACE).alerts
    at = start + BUCKET + GRACE
    while at <= end + timedelta(minutes=30) and at <= now:
        raised += triggers_run(now=at).alerts
        at += BUCKET
    raised += triggers_run(now=now).alerts

    lines = ["crisis:"]
    alerts = list(Alert.objects.filter(pk__in=raised).select_related("term").order_by("pk"))
    for a in alerts:
        lines.append(
            f"  alert #{a.pk}: {SIGNAL_LABELS[a.signal].lower()} on {a.term.name} at "
            f"{a.bucket_start:%a %H:%M} UTC (score {a.score:.2f}) — /alerts/{a.pk}/"
        )
    alert = next(
        (a for a in alerts if a.term_id == term.pk and start <= a.bucket_start < end), None
    )
    if alert is None:
        lines.append(f"  the outage on {term.name} raised no alert (check the sensitivity)")
        return lines

    team = alert.team
    lead = seeder.users.get(f"{team.slug}-lead") if team is not None else None
    agent = seeder.users.get(team.slug) if team is not None else None
    t0 = alert.raised_at

    # 2. The lead acknowledges within the 15 minutes; the agent drafts a public note.
    alert_acknowledge(alert=alert, actor=lead, now=t0 + timedelta(minutes=6))
    responses = [
        saved_response_create(title=title, body=body, team=team, now=t0)
        for title, body in RESPONSES
    ]
    note = incident_note_create(
        alert=alert,
        title="Some card payments are failing",
        slug=STATUS_SLUG,
        brand="Lastmile Bank",
        actor=agent,
        now=t0 + timedelta(minutes=8),
    )
    first = incident_update_post(
        note=note,
        body=(
            "We know some Lastmile Bank card payments are being declined, in shops and online. "
            "Our payments team is working on it with our card processor. Your money is safe "
            "and no account has been charged for a declined payment."
        ),
        next_update_at=t0 + timedelta(minutes=50),
        actor=agent,
        now=t0 + timedelta(minutes=9),
    )
    # 3. The lead publishes it; the agent answers the four most influential waiting authors,
    #    whether they wrote to @LastmileBank or only about it (a reply opens their case).
    incident_update_publish(update=first, actor=lead, now=t0 + timedelta(minutes=11))
    reply_at = t0 + timedelta(minutes=13)
    waiting = [
        row.mention.pk
        for row in selectors.unanswered(alert=alert, now=reply_at)
        if row.mention.posted_at < reply_at
    ][:4]
    replied = 0
    if waiting:
        replied = mentions_reply(
            alert=alert, mention_ids=waiting, response=responses[0], actor=agent, now=reply_at
        )
    fixed_at = min(t0 + timedelta(minutes=48), now)
    incident_update_post(
        note=note,
        body=(
            f"Card payments are working again since {end:%H:%M} UTC. A fault at our card "
            f"processor declined many payments for {int((end - start).total_seconds() // 60)} "
            "minutes. Any payment taken twice will be refunded automatically within 3 working "
            "days."
        ),
        publish=True,
        actor=lead,
        now=fixed_at,
    )
    # 4. The incident is over: the lead resolves the alert, and the status page says so.
    alert_resolve(alert=alert, actor=lead, now=fixed_at)
    left = selectors.unanswered_count(alert=alert)
    lines += [
        f"  crisis room /alerts/{alert.pk}/: acknowledged by {lead.username if lead else '—'}"
        f" in 6 min; {replied} replies from '{responses[0].title}'; {left} mentions left",
        f"  public incident note /status/{note.slug} with two updates, resolved",
    ]
    return lines
