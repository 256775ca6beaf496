from django.apps import AppConfig


class JourneysConfig(AppConfig):
    name = "lastmile.journeys"
    label = "journeys"
    verbose_name = "Journeys"
