"""The guarded responders' part of the seeded demo: a guarded responder from the stores
answering a mention.

Jordan Lee works in the Stores team (login ``store``), not in a support team. Social care
enrols Jordan to answer @LastmileBank mentions on Twitter with two of its saved responses,
Marcus Bell (``social-lead``) approving the first five replies; a reply policy says a
responder never promises a refund. This morning two shoppers wrote about a store: Jordan
answered the first, Marcus approved it and it went out on the mention's case; Jordan's
answer to the second waits in Marcus's approvals (``/responders/approvals/``).

Everything goes through the services, at the time it happens (``now=`` in the past).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from lastmile.demo.extensions.scorecards import WEEKS
from lastmile.listening.models import Mention, WatchTerm
from lastmile.listening.records import mention_in
from lastmile.listening.services.mentions import mentions_ingest
from lastmile.macros.models import Macro
from lastmile.macros.services import macro_save
from lastmile.people.models import Role
from lastmile.people.services import agent_create, team_ensure
from lastmile.promises.models import Policy
from lastmile.promises.services import policy_create
from lastmile.responders.models import Enrolment
from lastmile.responders.services import enrolment_save, reply_approve, reply_submit
from lastmile.scorecards.models import TeamWeekRollup
from lastmile.scorecards.rollups import rollups_rebuild

SPONSOR = "social"
NETWORK = "twitter"
USERNAME = "store"
SAVED = (
    (
        "Store: thanks, passing it on",
        "Thanks for letting us know! I work in our stores and I have passed this on to the "
        "store team today. {{agent.first_name}}, Lastmile stores",
    ),
    (
        "Store: opening hours",
        "Hello! Our stores open 9:00-17:30 on weekdays and Saturdays, and 10:00-16:00 on Sundays. "
        "{{agent.first_name}}, Lastmile stores",
    ),
)
POLICY: dict[str, Any] = {
    "key": "responders-no-refunds",
    "title": "Guarded responders do not promise refunds",
    "applies_when": "has(terms.reply) && has(terms.responder)",
    "rule": '!terms.text.contains("refund")',
    "severity": "block",
    "text": "Only a support agent promises a refund: leave the mention to Social care.",
}
MENTIONS = (
    # external id, handle, name, minutes before now, text
    (
        "demo-store-1",
        "kat_walks",
        "Kat Walker",
        95,
        "@LastmileBank the card machine at your Leeds branch store was down again this "
        "morning, had to come back later",
    ),
    (
        "demo-store-2",
        "dev_o_brien",
        "Dev O'Brien",
        25,
        "@LastmileBank is the Manchester store open at the weekend? Need to pick up my new card",
    ),
)


def seed(seeder: Any) -> list[str]:
    from lastmile.demo import seed as demo_seed

    now: datetime = seeder.now
    lead = seeder.users.get(f"{SPONSOR}-lead")
    team = seeder.teams.get(SPONSOR)
    if lead is None or team is None:
        return ["responders: skipped (no Social care team)"]
    if Enrolment.objects.filter(user__username=USERNAME).exists():
        return ["responders: seeded already"]
    stores = team_ensure(name="Stores", slug="stores")
    jordan = agent_create(
        username=USERNAME,
        password=demo_seed.PASSWORD,
        teams=[stores],
        role=Role.AGENT,
        first_name="Jordan",
        last_name="Lee",
        email=f"{USERNAME}@{demo_seed.EMAIL_DOMAIN}",
        update=True,
    ).user
    day_before = now - timedelta(days=1)
    macros = []
    for name, body in SAVED:
        found = Macro.objects.filter(team=team, name=name).first()
        macros.append(
            found or macro_save(name=name, body=body, team=team, actor=lead, now=day_before)
        )
    if not Policy.objects.filter(key=POLICY["key"]).exists():
        policy_create(**POLICY, now=now - timedelta(days=7))
    enrolment_save(
        user=jordan,
        team=team,
        networks=[NETWORK],
        macros=macros,
        approvals_needed=5,
        actor=lead,
        now=day_before,
    )
    # Addressed to the brand: with the listening demo's brand term, on Social care's cases.
    addressed = not WatchTerm.objects.filter(team=team, kind="brand").exists()
    mentions = []
    for external_id, handle, name, minutes, text in MENTIONS:
        at = now - timedelta(minutes=minutes)
        result = mentions_ingest(
            items=[
                mention_in(
                    network=NETWORK,
                    external_id=external_id,
                    author_handle=handle,
                    author_name=name,
                    author_followers=240,
                    text=text,
                    posted_at=at,
                    to_brand=True if addressed else None,
                )
            ],
            now=at + timedelta(minutes=1),
        )
        mentions.append(Mention.objects.get(pk=result.ids[0]))
    first, _ = reply_submit(
        responder=jordan, mention=mentions[0], macro=macros[0], now=now - timedelta(minutes=80)
    )
    reply_approve(reply=first, actor=lead, now=now - timedelta(minutes=70))
    reply_submit(
        responder=jordan, mention=mentions[1], macro=macros[1], now=now - timedelta(minutes=15)
    )
    # The Stores team is new: when the scorecards' rollups were built already (their
    # extension ran first), build them again so every team has its weeks on the dashboard.
    if TeamWeekRollup.objects.exists():
        rollups_rebuild(weeks=WEEKS, now=now)
    return [
        "responders: Jordan Lee (login store) from the stores answers @LastmileBank mentions "
        f"for {team.name}: one reply approved by Marcus Bell and sent, one held for his "
        "approval (/responders/approvals/ as social-lead)",
    ]
