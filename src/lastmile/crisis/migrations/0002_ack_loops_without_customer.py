"""Alerts' acknowledgement loops no longer hang on a pseudo-customer.

Before loops 0003 every loop needed a customer, so an alert's acknowledgement loop was
opened against a customer made for the purpose: the brand's social account ("@handle (our
account)") or the watch term ("<term> (watch term)", an ``external`` identity
``lastmile/watch-term:<id>``). Those loops are the team's own: they move to no customer.
The customer rows stay (the brand's account may also carry its own posts; nothing else is
owed to them), and their customer pages no longer list the alerts' loops.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    Alert = apps.get_model("crisis", "Alert")
    Loop = apps.get_model("loops", "Loop")
    ack_loops = Alert.objects.filter(ack_loop__isnull=False).values("ack_loop_id")
    Loop.objects.filter(pk__in=ack_loops, kind="ack", case__isnull=True).update(
        customer=None, visible_to_customer=False
    )


class Migration(migrations.Migration):
    dependencies = [
        ("crisis", "0001_initial"),
        ("loops", "0003_loop_team_own"),
    ]

    # Not reversible in data: which pseudo-customer a loop hung on is not kept.
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
