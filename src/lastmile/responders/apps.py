from django.apps import AppConfig


class RespondersConfig(AppConfig):
    name = "lastmile.responders"
    label = "responders"
    verbose_name = "Guarded responders"

    def ready(self) -> None:
        from lastmile.responders.panels import responders_panel
        from lastmile.scorecards.panels import panel_register

        # The scorecard page shows the responders its viewer may see, for its period.
        panel_register("responders", responders_panel)
