"""The interactions whose sentiment the worker has yet to score (``SentimentPending``).

A new, empty table: nothing is locked or rewritten, whatever the size of the timeline.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0004_drop_covered_fk_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="SentimentPending",
            fields=[
                (
                    "interaction",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="customers.interaction",
                    ),
                ),
            ],
        ),
    ]
