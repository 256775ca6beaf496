# Variable pay: disputes and the weekly digest (operations added with those models).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("scorecards", "0003_pay_plans_adjustments"),
    ]

    operations: list[migrations.operations.base.Operation] = []
