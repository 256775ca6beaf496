"""``loop_team_due`` (team, state, due_at) becomes ``loop_team_due_id`` (team, state, due_at,
id). A team's inbox asks for its open loops ordered by deadline then id; without ``id`` in the
index, PostgreSQL at 1,000,000 open loops preferred walking ``loop_open_due`` (every team's
open loops by deadline) and filtering out the other teams' rows: 2.4 s for one team's first
page, against about 1 ms with this index (bench/SCALE.md, 7 Dec).

The new index is built before the old one goes, both without locking the table
(``CREATE`` / ``DROP INDEX CONCURRENTLY`` on PostgreSQL), so the migration is not atomic.
"""

from django.db import migrations, models

from lastmile.core.migration_ops import AddIndexOnline, RemoveIndexOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("loops", "0008_loop_open_due_breached"),
    ]

    operations = [
        AddIndexOnline(
            model_name="loop",
            index=models.Index(fields=["team", "state", "due_at", "id"], name="loop_team_due_id"),
        ),
        RemoveIndexOnline(model_name="loop", name="loop_team_due"),
    ]
