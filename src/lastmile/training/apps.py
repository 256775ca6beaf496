from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "lastmile.training"
    label = "training"
    verbose_name = "Training"
