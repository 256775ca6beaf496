from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "lastmile.training"
    label = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        from lastmile.scorecards.panels import panel_register
        from lastmile.scorecards.pay import practice_source_register
        from lastmile.training.panels import scorecard_panel
        from lastmile.training.selectors import practice_standing_of

        panel_register("training", scorecard_panel)
        practice_source_register(practice_standing_of)
