"""The macros' and tags' part of the seeded demo: canned replies shared with the front and
back offices, one agent's personal macro, and tags on the story cases, so the composer's
macro picker and the case lists' tag filter have something to show."""

from __future__ import annotations

from typing import Any

from lastmile.cases.services import case_tags_set
from lastmile.macros.services import macro_save
from lastmile.people.models import Team

# name, team slug (None: personal to the front office's first agent), body, actions
MACROS: tuple[tuple[str, str | None, str, dict[str, Any]], ...] = (
    (
        "Acknowledge and set expectations",
        "front",
        "Hello {{customer.first_name}},\n\nThank you for getting in touch. I have your "
        "request as {{case.ref}} and will come back to you by {{loop.due}}.\n\n"
        "{{agent.name}}",
        {},
    ),
    (
        "Waiting on the customer",
        "front",
        "Hello {{customer.first_name}},\n\nTo go on with {{case.ref}} we need one more "
        "detail from you: could you reply with it when you can?\n\n{{agent.name}}",
        {"pause_reply_loop": True, "add_tag": "waiting-on-customer"},
    ),
    (
        "Online banking switched on",
        "back",
        "Hello {{customer.first_name}},\n\nOnline banking is now switched on for your "
        "account; the activation code is on its way by text message.\n\n{{agent.name}}",
        {"add_tag": "online-banking"},
    ),
    (
        "My sign-off",
        None,
        "Kind regards,\n{{agent.name}}, Lastmile customer care",
        {},
    ),
)

# story -> tags on its case
TAGS = {
    "bank": ["online-banking", "vip"],
    "hotel": ["membership"],
    "visit": ["field-visit"],
    "rant": ["social", "complaint"],
}


def seed(seeder: Any) -> list[str]:
    now = seeder.now
    admin = seeder.user("demo")
    front_agent = seeder.user("front")
    for name, slug, body, actions in MACROS:
        team = Team.objects.get(slug=slug) if slug else None
        macro_save(
            name=name,
            body=body,
            owner=None if team else front_agent,
            team=team,
            actor=admin if team else front_agent,
            now=now,
            **actions,
        )
    tagged = 0
    for story, tags in TAGS.items():
        key = seeder.plan.stories.get(story, (None, ""))[0]
        case = seeder.cases.get(key) if key else None
        if case is not None:
            case_tags_set(case=case, add=tags, actor=admin, now=now)
            tagged += 1
    return [
        f"  macros: {len(MACROS)} (3 shared with a team, 1 personal to 'front'); "
        f"tags on {tagged} story cases"
    ]
