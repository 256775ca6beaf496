from django.apps import AppConfig


class FunnelsConfig(AppConfig):
    name = "lastmile.funnels"
    label = "funnels"
    verbose_name = "Funnels"
