from django.apps import AppConfig


class CoachingConfig(AppConfig):
    name = "lastmile.coaching"
    label = "coaching"
    verbose_name = "Coaching"

    def ready(self) -> None:
        from lastmile.coaching.panels import lessons_panel
        from lastmile.coaching.services import (
            on_loop_breached,
            on_loops_breached,
            on_promise_broken,
            on_qa_reviewed,
        )
        from lastmile.core.events import event_subscribe
        from lastmile.scorecards.panels import panel_register

        # A review below target, a broken promise, a breach in an agent's hands: each opens
        # a lesson in the transaction that wrote it (the lower apps do not import coaching).
        event_subscribe(on_qa_reviewed, names=["qa.reviewed"])
        event_subscribe(on_promise_broken, names=["promise.broken"])
        event_subscribe(on_loop_breached, many=on_loops_breached, names=["loop.breached"])
        panel_register("coaching", lessons_panel)
