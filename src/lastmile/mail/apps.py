from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "lastmile.mail"
    label = "mail"
    verbose_name = "Email in and out"
