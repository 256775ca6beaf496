"""Drop the single-column index of ``live_notification.recipient_id``: the composite index
``notification_list (recipient, -created_at, -id)`` leads with the same column and serves the
same lookups (and the foreign key's checks); every notification writes one index entry fewer.

Only the index goes, without locking the table (``core.migration_ops.drop_field_indexes``).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from lastmile.core.migration_ops import drop_field_indexes


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("live", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[drop_field_indexes("live", "notification", ("recipient",))],
            state_operations=[
                migrations.AlterField(
                    model_name="notification",
                    name="recipient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="notifications",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
    ]
