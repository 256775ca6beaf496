from django.db import migrations, models


class Migration(migrations.Migration):
    """The case index holds only rows on a case: most events (a Segment track) are on none."""

    dependencies = [
        ("customers", "0002_interaction_sentiment"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="interaction",
            name="interaction_case",
        ),
        migrations.AddIndex(
            model_name="interaction",
            index=models.Index(
                condition=models.Q(("case__isnull", False)),
                fields=["case", "occurred_at"],
                name="interaction_case",
            ),
        ),
    ]
