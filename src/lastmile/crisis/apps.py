from django.apps import AppConfig


class CrisisConfig(AppConfig):
    name = "lastmile.crisis"
    label = "crisis"
    verbose_name = "Alerts, crisis rooms and status pages"
