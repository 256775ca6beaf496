# Variable pay: disputes and the weekly digest.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("loops", "0006_team_own_kinds_closed_indexes"),
        ("people", "0002_agent_authority_help"),
        ("scorecards", "0003_pay_plans_adjustments"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="DigestSubscription",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("active", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField()),
                ("updated_at", models.DateTimeField()),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="digest_subscription",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["user__username"],
            },
        ),
        migrations.CreateModel(
            name="DigestSent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "week",
                    models.DateField(
                        help_text="The Monday (UTC) of the week the digest was sent in."
                    ),
                ),
                ("outbox_key", models.CharField(max_length=200)),
                ("created_at", models.DateTimeField()),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-week", "user"],
                "constraints": [
                    models.UniqueConstraint(fields=("user", "week"), name="digestsent_once_a_week")
                ],
            },
        ),
        migrations.CreateModel(
            name="PayDispute",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.CharField(help_text="2026-11", max_length=7)),
                (
                    "line",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("on_time_rate", "On-time rate"),
                            ("loops_closed", "Loops closed"),
                            ("promises_kept", "Promises kept"),
                            ("csat", "CSAT"),
                            ("nps", "NPS"),
                            ("qa_score", "QA score"),
                            ("recovered", "Recovered carts and applications"),
                            ("breaches", "Breaches"),
                            ("first_reply_median_business_minutes", "Median first reply"),
                            ("reopened_cases", "Reopened cases"),
                        ],
                        help_text="The metric disputed; empty: the whole statement.",
                        max_length=40,
                    ),
                ),
                ("reason", models.TextField()),
                (
                    "state",
                    models.CharField(
                        choices=[("open", "Open"), ("answered", "Answered")],
                        default="open",
                        max_length=10,
                    ),
                ),
                ("answer", models.TextField(blank=True)),
                ("answered_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField()),
                (
                    "adjustment",
                    models.OneToOneField(
                        blank=True,
                        help_text="The adjustment made in answer, if any.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="dispute",
                        to="scorecards.payadjustment",
                    ),
                ),
                (
                    "agent",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="pay_disputes",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "answered_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="pay_disputes_answered",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "loop",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="loops.loop",
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        blank=True,
                        help_text="The team whose pay plan the statement was on.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="people.team",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [models.Index(fields=["month", "agent"], name="paydispute_month")],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("state", "open")),
                        fields=("agent", "month", "line"),
                        name="paydispute_one_open",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("reason", ""), _negated=True),
                        name="paydispute_reason_required",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("answered_at__isnull", True), ("state", "open")),
                            models.Q(
                                ("answered_at__isnull", False),
                                ("state", "answered"),
                                models.Q(("answer", ""), _negated=True),
                            ),
                            _connector="OR",
                        ),
                        name="paydispute_answered_has_answer",
                    ),
                ],
            },
        ),
    ]
