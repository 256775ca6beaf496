# The dashboard's rollups: more figures per team and week, and per agent (operations added
# with those fields).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("scorecards", "0004_pay_disputes_digest"),
    ]

    operations: list[migrations.operations.base.Operation] = []
