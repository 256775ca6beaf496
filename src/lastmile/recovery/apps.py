from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "lastmile.recovery"
    label = "recovery"
    verbose_name = "Recovery"

    def ready(self) -> None:
        from lastmile.core.events import event_subscribe
        from lastmile.recovery.services import (
            on_customer_merging,
            on_interaction_recorded,
            on_interactions_recorded,
            on_loop_given_up,
        )

        # A person completing a funnel closes their open recovery as recovered, in the
        # recording's transaction (customers does not import recovery; it tells this event).
        event_subscribe(
            on_interaction_recorded,
            many=on_interactions_recorded,
            names=["interaction.recorded"],
        )
        # A recovery loop cancelled or broken by its owner loses the recovery at once.
        event_subscribe(on_loop_given_up, names=["loop.cancelled", "loop.broken"])
        # Two customers each with an open recovery of one rule, merged: one stays open.
        event_subscribe(on_customer_merging, names=["customer.merging"])
