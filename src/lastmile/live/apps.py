"""Working together: live updates, presence, typing, mentions and notifications."""

from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "lastmile.live"
    label = "live"
    verbose_name = "Working together"

    def ready(self) -> None:
        from lastmile.core.events import event_subscribe
        from lastmile.live.reactions import (
            on_case_assigned,
            on_interaction_recorded,
            on_interactions_recorded,
            on_loop_assigned,
            on_loop_breached,
            on_loop_escalated,
            on_loops_breached,
            on_loops_escalated,
        )

        # A note's @mentions notify the agents they name (customers tells every recording).
        event_subscribe(
            on_interaction_recorded, many=on_interactions_recorded, names=["interaction.recorded"]
        )
        # A case given to an agent tells them (cases tells every change of assignee).
        event_subscribe(on_case_assigned, names=["case.assigned"])
        # A loop past its SLA tells whoever answers for it (the sweeper tells a batch).
        event_subscribe(on_loop_breached, many=on_loops_breached, names=["loop.breached"])
        # A rung of the escalation ladder tells the person it names (owner, lead, new holder).
        event_subscribe(on_loop_escalated, many=on_loops_escalated, names=["loop.escalated"])
        # A loop given to an agent by a person tells them (loops tells every reassignment).
        event_subscribe(on_loop_assigned, names=["loop.assigned"])
