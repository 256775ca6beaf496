"""Seed one contact rule per purpose lastmile sends; edit them in the admin.

- reply: what the customer asked for; never capped, no quiet hours (they are waiting).
- notification: status updates, links, ETAs; held overnight, at most 6 a day.
- survey: ask once (1 unanswered survey stops the next), at most 1 a week, not at night.
- callback: at most 3 unanswered call-back attempts, 2 hours apart, not at night.
- marketing: at most 2 messages of any kind a week, a day apart, not at night.
- escalation: to agents, about loops; never capped (no customer to count).
"""

from datetime import time, timedelta

from django.db import migrations

RULES = [
    {
        "purpose": "reply",
        "description": "Replies the customer asked for: never capped, no quiet hours.",
        "caps_apply": False,
    },
    {
        "purpose": "notification",
        "description": "Status updates and links: not overnight, at most 6 a day.",
        "quiet_start": time(22, 0),
        "quiet_end": time(7, 0),
        "max_per_period": 6,
        "period": timedelta(days=1),
    },
    {
        "purpose": "survey",
        "description": "Ask once: no second survey after one went unanswered; 1 a week.",
        "quiet_start": time(20, 0),
        "quiet_end": time(9, 0),
        "max_per_period": 1,
        "period": timedelta(days=7),
        "max_unanswered": 1,
        "customer_required": True,
    },
    {
        "purpose": "callback",
        "description": "Call-back attempts: at most 3 unanswered, 2 hours apart.",
        "quiet_start": time(20, 0),
        "quiet_end": time(9, 0),
        "min_gap": timedelta(hours=2),
        "max_unanswered": 3,
        "customer_required": True,
    },
    {
        "purpose": "marketing",
        "description": "Offers: at most 2 messages of any kind a week, a day apart.",
        "quiet_start": time(20, 0),
        "quiet_end": time(9, 0),
        "max_per_period": 2,
        "period": timedelta(days=7),
        "scope": "all",
        "min_gap": timedelta(days=1),
        "customer_required": True,
    },
    {
        "purpose": "escalation",
        "description": "Escalations to agents: never capped.",
        "caps_apply": False,
    },
]


def seed(apps, schema_editor):
    ContactRule = apps.get_model("channels", "ContactRule")
    for spec in RULES:
        ContactRule.objects.get_or_create(purpose=spec["purpose"], defaults=spec)


def unseed(apps, schema_editor):
    ContactRule = apps.get_model("channels", "ContactRule")
    ContactRule.objects.filter(purpose__in=[r["purpose"] for r in RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("channels", "0003_contact_policy")]

    operations = [migrations.RunPython(seed, unseed)]
