from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "lastmile.portal"
    label = "portal"
    verbose_name = "Customer portal"
