"""Seed the contact rule for recovery outreach (edit it in the admin): a customer who left
a cart or an application hears from us at most once a week, never at night, and only when
the message can be counted against them."""

from datetime import time, timedelta

from django.db import migrations

RULE = {
    "purpose": "recovery",
    "description": "Win-back messages after an abandoned cart or application: 1 a week.",
    "quiet_start": time(21, 0),
    "quiet_end": time(8, 0),
    "max_per_period": 1,
    "period": timedelta(days=7),
    "customer_required": True,
}


def seed(apps, schema_editor):
    ContactRule = apps.get_model("channels", "ContactRule")
    ContactRule.objects.get_or_create(purpose=RULE["purpose"], defaults=RULE)


def unseed(apps, schema_editor):
    ContactRule = apps.get_model("channels", "ContactRule")
    ContactRule.objects.filter(purpose=RULE["purpose"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0001_initial"),
        ("channels", "0004_contact_rules_seed"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
