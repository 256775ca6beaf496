# The dashboard's rollups: first-contact resolution, recovery, revenue recovered per currency
# and the loudest alerts per team and week; and each agent's weekly figures.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scorecards", "0004_pay_disputes_digest"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="teamweekrollup",
            name="alerts",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="teamweekrollup",
            name="alerts_top",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text='The week\'s loudest alerts, most mentions first: [{"id", "term", "signal", "mentions", "state"}], at most five.',
            ),
        ),
        migrations.AddField(
            model_name="teamweekrollup",
            name="cases_solved",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="teamweekrollup",
            name="first_contact_resolved",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="teamweekrollup",
            name="recoveries_lost",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="teamweekrollup",
            name="recoveries_recovered",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="teamweekrollup",
            name="revenue_recovered",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text='Recovered revenue per currency, never converted: {"EUR": "129.50"}.',
            ),
        ),
        migrations.CreateModel(
            name="AgentWeekRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("week", models.DateField(help_text="The week's Monday (UTC).")),
                ("loops_finished", models.PositiveIntegerField(default=0)),
                ("breaches", models.PositiveIntegerField(default=0)),
                ("loops_closed", models.PositiveIntegerField(default=0)),
                ("loops_closed_with_deadline", models.PositiveIntegerField(default=0)),
                ("loops_closed_on_time", models.PositiveIntegerField(default=0)),
                ("cases_solved", models.PositiveIntegerField(default=0)),
                ("first_contact_resolved", models.PositiveIntegerField(default=0)),
                ("computed_at", models.DateTimeField()),
                (
                    "agent",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["agent", "week"],
                "indexes": [models.Index(fields=["week", "agent"], name="agentweekrollup_week")],
                "constraints": [
                    models.UniqueConstraint(fields=("agent", "week"), name="agentweekrollup_unique")
                ],
            },
        ),
    ]
