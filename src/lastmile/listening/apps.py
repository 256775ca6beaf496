from django.apps import AppConfig


class ListeningConfig(AppConfig):
    name = "lastmile.listening"
    label = "listening"
    verbose_name = "Social listening"

    def ready(self) -> None:
        from lastmile.core.events import event_subscribe
        from lastmile.listening.services.replies import on_loop_event, on_loop_events

        # A mention leaves the unattended list when its reply loop closes or is cancelled,
        # whatever closed it (a reply on any channel, an agent).
        event_subscribe(on_loop_event, many=on_loop_events)
