from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "lastmile.recovery"
    label = "recovery"
    verbose_name = "Recovery"
