from django.apps import AppConfig


class CrisisConfig(AppConfig):
    name = "lastmile.crisis"
    label = "crisis"
    verbose_name = "Alerts, crisis rooms and status pages"

    def ready(self) -> None:
        from lastmile.core.events import event_subscribe
        from lastmile.crisis.services import on_loop_closed

        # An acknowledgement loop closed anywhere acknowledges its alert.
        event_subscribe(on_loop_closed)
