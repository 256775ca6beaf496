from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "lastmile.console"
    label = "console"
    verbose_name = "Agent console"
