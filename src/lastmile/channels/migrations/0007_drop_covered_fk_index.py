"""Drop the single-column index of ``channels_outboxmessage.customer_id``: the composite index
``outbox_customer (customer, -created_at)`` leads with the same column and serves the same
lookups (and the foreign key's checks); every queued message writes one index entry fewer.

Only the index goes, without locking the table (``core.migration_ops.drop_field_indexes``).
"""

import django.db.models.deletion
from django.db import migrations, models

from lastmile.core.migration_ops import drop_field_indexes


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("channels", "0006_outbox_failed_index"),
        ("customers", "0004_drop_covered_fk_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[drop_field_indexes("channels", "outboxmessage", ("customer",))],
            state_operations=[
                migrations.AlterField(
                    model_name="outboxmessage",
                    name="customer",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="outbox_messages",
                        to="customers.customer",
                    ),
                ),
            ],
        ),
    ]
