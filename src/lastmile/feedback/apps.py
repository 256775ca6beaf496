from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "lastmile.feedback"
    label = "feedback"
    verbose_name = "Feedback"
