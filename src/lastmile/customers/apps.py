from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "lastmile.customers"
    label = "customers"
    verbose_name = "Customers and timeline"
