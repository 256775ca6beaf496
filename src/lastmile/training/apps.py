from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "lastmile.training"
    label = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        from lastmile.scorecards.panels import panel_register
        from lastmile.training.panels import scorecard_panel

        panel_register("training", scorecard_panel)
