from django.apps import AppConfig


class PromisesConfig(AppConfig):
    name = "lastmile.promises"
    label = "promises"
    verbose_name = "Promises and policies"

    def ready(self) -> None:
        from lastmile.core.events import event_subscribe
        from lastmile.promises.services import promise_follow_loop

        # A promise loop finished outside the ledger (Mark done, the loops API) settles it.
        event_subscribe(promise_follow_loop)
