from django.apps import AppConfig


class MacrosConfig(AppConfig):
    name = "lastmile.macros"
    label = "macros"
    verbose_name = "Macros"
