from django.apps import AppConfig


class ScorecardsConfig(AppConfig):
    name = "lastmile.scorecards"
    label = "scorecards"
    verbose_name = "Scorecards"
