from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "lastmile.jobs"
    label = "jobs"
    verbose_name = "Deliveries and visits"
