from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "lastmile.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks and messaging integrations"
