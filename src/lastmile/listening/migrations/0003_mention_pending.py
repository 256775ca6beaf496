"""Mentions stored pending by a file import, processed by the worker (``services.process``).

Adds ``pending`` and ``in_reply_to_handle``; the customer, case, interaction, reply-loop and
author foreign keys lose their single-column indexes, and the first four get partial ones
(where set), since the import leaves them empty. Built to run on a big table: the old
indexes are dropped with ``DROP INDEX CONCURRENTLY`` on PostgreSQL (an ``AlterField`` would
take the table's lock, and make SQLite copy the table five times) and the new ones built
``CONCURRENTLY`` (``AddIndexOnline``), so the migration is not atomic.
"""

import django.db.models.deletion
from django.db import migrations, models

from lastmile.core.migration_ops import AddIndexOnline, drop_field_indexes

FIELDS = ("author", "case", "customer", "interaction", "reply_loop")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("listening", "0002_mention_reply_to_index"),
        ("customers", "0002_interaction_sentiment"),
        ("cases", "0002_initial"),
        ("loops", "0002_sla_influence_sentiment"),
    ]

    operations = [
        migrations.AddField(
            model_name="mention",
            name="in_reply_to_handle",
            field=models.CharField(
                blank=True, help_text="The account replied to, if the source says.", max_length=100
            ),
        ),
        migrations.AddField(
            model_name="mention",
            name="pending",
            field=models.BooleanField(
                default=False,
                help_text="Stored by a file import and not processed yet: its sentiment is not scored and, if addressed to a brand, it is not on the timeline yet (``services.process``, the worker's job).",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="mention",
                    name="author",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="mentions",
                        to="listening.author",
                    ),
                ),
                migrations.AlterField(
                    model_name="mention",
                    name="case",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="The case of the author's conversation with the brand.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="cases.case",
                    ),
                ),
                migrations.AlterField(
                    model_name="mention",
                    name="customer",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="mentions",
                        to="customers.customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="mention",
                    name="interaction",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="customers.interaction",
                    ),
                ),
                migrations.AlterField(
                    model_name="mention",
                    name="reply_loop",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="loops.loop",
                    ),
                ),
            ],
            database_operations=[drop_field_indexes("listening", "mention", FIELDS)],
        ),
        AddIndexOnline(
            model_name="mention",
            index=models.Index(
                condition=models.Q(("pending", True)), fields=["id"], name="mention_pending"
            ),
        ),
        AddIndexOnline(
            model_name="mention",
            index=models.Index(
                condition=models.Q(("customer__isnull", False)),
                fields=["customer"],
                name="mention_customer_set",
            ),
        ),
        AddIndexOnline(
            model_name="mention",
            index=models.Index(
                condition=models.Q(("case__isnull", False)),
                fields=["case"],
                name="mention_case_set",
            ),
        ),
        AddIndexOnline(
            model_name="mention",
            index=models.Index(
                condition=models.Q(("interaction__isnull", False)),
                fields=["interaction"],
                name="mention_interaction_set",
            ),
        ),
        AddIndexOnline(
            model_name="mention",
            index=models.Index(
                condition=models.Q(("reply_loop__isnull", False)),
                fields=["reply_loop"],
                name="mention_reply_loop_set",
            ),
        ),
    ]
