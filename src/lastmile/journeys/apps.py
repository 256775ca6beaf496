from django.apps import AppConfig


class JourneysConfig(AppConfig):
    name = "lastmile.journeys"
    label = "journeys"
    verbose_name = "Journeys"

    def ready(self) -> None:
        from lastmile.core.events import event_subscribe
        from lastmile.journeys.services import on_loop_event

        # A step's loop closed anywhere completes the step; cancelled elsewhere is refused.
        event_subscribe(on_loop_event)
