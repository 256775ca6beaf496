"""Two partial indexes on ``loops_loop``: ``loop_open_due`` for the inbox unfiltered by team
(an admin's first page walks the open loops by deadline and stops after 50, instead of
sorting every open loop: 5.5 s to 17.6 ms at 1,120,000 open loops, bench/SCALE.md) and
``loop_breached`` for the coaching catch-up's window of breaches.

Built with ``CREATE INDEX CONCURRENTLY`` on PostgreSQL (``AddIndexOnline``): reads and writes
of the table go on while they build, so the migration is not atomic.
"""

from django.db import migrations, models

from lastmile.core.migration_ops import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("loops", "0007_loop_fk_indexes_in_composites"),
    ]

    operations = [
        AddIndexOnline(
            model_name="loop",
            index=models.Index(
                condition=models.Q(("state", "open")),
                fields=["due_at", "id"],
                name="loop_open_due",
            ),
        ),
        AddIndexOnline(
            model_name="loop",
            index=models.Index(
                condition=models.Q(("breached_at__isnull", False)),
                fields=["breached_at", "id"],
                name="loop_breached",
            ),
        ),
    ]
