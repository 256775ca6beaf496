from django.apps import AppConfig


class CrisisConfig(AppConfig):
    name = "lastmile.crisis"
    label = "crisis"
    verbose_name = "Alerts, crisis rooms and status pages"

    def ready(self) -> None:
        from lastmile.core.events import event_subscribe
        from lastmile.crisis.services.alerts import on_loop_closed

        # An acknowledgement loop closed anywhere acknowledges its alert.
        event_subscribe(on_loop_closed)

        from lastmile.crisis.selectors import ack_loop_pages
        from lastmile.loops.selectors import team_loop_pages_register

        # An acknowledgement loop has no customer page: the inbox links it to the room.
        team_loop_pages_register(ack_loop_pages)
