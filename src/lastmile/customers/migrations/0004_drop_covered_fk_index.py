"""Drop the single-column index of ``customers_interaction.customer_id``: the composite index
``interaction_timeline (customer, -occurred_at, -id)`` leads with the same column and serves the
same lookups (and the foreign key's checks); every ingested interaction writes one index
entry fewer.

Only the index goes, without locking the table (``core.migration_ops.drop_field_indexes``).
"""

import django.db.models.deletion
from django.db import migrations, models

from lastmile.core.migration_ops import drop_field_indexes


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("customers", "0003_interaction_case_partial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[drop_field_indexes("customers", "interaction", ("customer",))],
            state_operations=[
                migrations.AlterField(
                    model_name="interaction",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="interactions",
                        to="customers.customer",
                    ),
                ),
            ],
        ),
    ]
