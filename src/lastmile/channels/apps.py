from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "lastmile.channels"
    label = "channels"
    verbose_name = "Channels and outbox"
