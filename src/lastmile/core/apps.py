from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "lastmile.core"
    label = "core"
    verbose_name = "Core"
