from django.apps import AppConfig


class LoopsConfig(AppConfig):
    name = "lastmile.loops"
    label = "loops"
    verbose_name = "Open loops and SLAs"
