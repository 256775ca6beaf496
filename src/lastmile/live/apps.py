from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "lastmile.live"
    label = "live"
    verbose_name = "Working together"
