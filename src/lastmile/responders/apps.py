from django.apps import AppConfig


class RespondersConfig(AppConfig):
    name = "lastmile.responders"
    label = "responders"
    verbose_name = "Guarded responders"

    def ready(self) -> None:
        from lastmile.core.events import event_subscribe
        from lastmile.responders.panels import responders_panel
        from lastmile.responders.services import on_approval_loop_finished
        from lastmile.scorecards.panels import panel_register

        # A held reply's approval task closes with the lead's decision, never without one.
        event_subscribe(
            on_approval_loop_finished, names=["loop.closed", "loop.cancelled", "loop.broken"]
        )

        # The scorecard page shows the responders its viewer may see, for its period.
        panel_register("responders", responders_panel)
