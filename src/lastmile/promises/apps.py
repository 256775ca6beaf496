from django.apps import AppConfig


class PromisesConfig(AppConfig):
    name = "lastmile.promises"
    label = "promises"
    verbose_name = "Promises and policies"
