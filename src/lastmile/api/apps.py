from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "lastmile.api"
    label = "api"
    verbose_name = "API"

    def ready(self) -> None:
        # The 429 for unknown tokens carries Retry-After, which the DomainError handler
        # of lastmile.api.api does not set; ninja picks the handler of the closest class.
        from lastmile.api.api import api
        from lastmile.api.auth import TooManyTokenFailures, on_too_many_token_failures

        api.add_exception_handler(TooManyTokenFailures, on_too_many_token_failures)
