from django.apps import AppConfig


class LoopsConfig(AppConfig):
    name = "lastmile.loops"
    label = "loops"
    verbose_name = "Open loops and SLAs"

    def ready(self) -> None:
        from lastmile.core.events import event_subscribe, grant_register, guard_register
        from lastmile.loops.reactions import (
            loops_guard_case_close,
            on_case_moved,
            on_interaction_recorded,
            on_interactions_recorded,
        )
        from lastmile.loops.selectors import loops_grant_cases, loops_grant_cases_owned_before

        # Reply loops follow the conversation on a case: an interaction recorded on one
        # opens or closes them, in the recording's transaction (customers does not import
        # loops; it tells this event).
        event_subscribe(
            on_interaction_recorded,
            many=on_interactions_recorded,
            names=["interaction.recorded"],
        )
        # A case moved to another team takes the open loops its old team held with it, in
        # the move's transaction (cases does not import loops; it tells this event).
        event_subscribe(on_case_moved, names=["case.moved"])
        # A case is not solved or closed while a loop on it is open (cases does not import
        # loops; it asks this guard).
        guard_register("case.close", loops_guard_case_close)
        # An agent sees the case behind a loop their team owns, or owned before it was
        # reassigned (cases asks these grants).
        grant_register("case.view", loops_grant_cases)
        grant_register("case.view", loops_grant_cases_owned_before)
