from django.apps import AppConfig


class CoachingConfig(AppConfig):
    name = "lastmile.coaching"
    label = "coaching"
    verbose_name = "Coaching"
