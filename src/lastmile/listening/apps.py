from django.apps import AppConfig


class ListeningConfig(AppConfig):
    name = "lastmile.listening"
    label = "listening"
    verbose_name = "Social listening"
