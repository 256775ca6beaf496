from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    name = "lastmile.invoices"
    label = "invoices"
    verbose_name = "Invoices"
