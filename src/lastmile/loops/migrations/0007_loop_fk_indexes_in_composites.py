"""Drop the single-column indexes of four foreign keys of ``loops_loop`` that each lead one
of its composite indexes (customer and case: ``loop_customer_state``, ``loop_case_state``;
team: ``loop_team_due``, ``loop_team_risk``, ``loop_team_closed``; assignee:
``loop_assignee_closed``), which serve the same lookups. Every index is one more entry the
sweeper writes for each loop it escalates.

Only the indexes go (an ``AlterField`` would make SQLite copy the table four times): on
PostgreSQL with ``DROP INDEX CONCURRENTLY``, so reads and writes of the table go on meanwhile
(the migration is not atomic for that); on SQLite with ``DROP INDEX``. Each index is found by
its column, whatever its name.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from lastmile.core.migration_ops import drop_field_indexes

FIELDS = ("assignee", "case", "customer", "team")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("cases", "0005_unsolved_list_indexes"),
        ("customers", "0003_interaction_case_partial"),
        ("loops", "0006_team_own_kinds_closed_indexes"),
        ("people", "0002_agent_authority_help"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[drop_field_indexes("loops", "loop", FIELDS)],
            state_operations=[
                migrations.AlterField(
                    model_name="loop",
                    name="assignee",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="loops",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="loop",
                    name="case",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="loops",
                        to="cases.case",
                    ),
                ),
                migrations.AlterField(
                    model_name="loop",
                    name="customer",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="Empty for a team's own loop (an alert's acknowledgement).",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="loops",
                        to="customers.customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="loop",
                    name="team",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="loops",
                        to="people.team",
                    ),
                ),
            ],
        )
    ]
