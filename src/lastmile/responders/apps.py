from django.apps import AppConfig


class RespondersConfig(AppConfig):
    name = "lastmile.responders"
    label = "responders"
    verbose_name = "Guarded responders"
