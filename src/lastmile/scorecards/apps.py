from django.apps import AppConfig


class ScorecardsConfig(AppConfig):
    name = "lastmile.scorecards"
    label = "scorecards"
    verbose_name = "Scorecards"

    def ready(self) -> None:
        from lastmile.core.events import event_subscribe
        from lastmile.scorecards import digest  # noqa: F401  the outbox's email:html transport
        from lastmile.scorecards.pay import on_dispute_loop_finished

        # A dispute's loop closes with the lead's answer, never without one.
        event_subscribe(
            on_dispute_loop_finished, names=["loop.closed", "loop.cancelled", "loop.broken"]
        )
