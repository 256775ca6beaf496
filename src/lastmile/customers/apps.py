from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "lastmile.customers"
    label = "customers"
    verbose_name = "Customers and timeline"

    def ready(self) -> None:
        from lastmile.core.events import grant_register
        from lastmile.customers.selectors import customers_grant_cases

        # A team opens the cases on which one of its members wrote (cases asks this grant).
        grant_register("case.view", customers_grant_cases)
