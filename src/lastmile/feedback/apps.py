from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "lastmile.feedback"
    label = "feedback"
    verbose_name = "Feedback"

    def ready(self) -> None:
        from lastmile.channels.selectors import contact_source_register
        from lastmile.core.events import event_subscribe
        from lastmile.feedback.selectors import survey_contacts
        from lastmile.feedback.services import (
            on_case_solved,
            on_interaction_recorded,
            on_interactions_recorded,
            on_loop_closed,
            on_loops_closed,
        )

        # Surveys fired by a solved case or a closed loop ask the customer in the
        # transaction of that change (cases and loops do not import feedback).
        event_subscribe(on_case_solved, names=["case.solved"])
        event_subscribe(on_loop_closed, many=on_loops_closed, names=["loop.closed"])
        # A Segment track of the event an ``event`` survey names asks that person, in the
        # recording's transaction (customers does not import feedback).
        event_subscribe(
            on_interaction_recorded,
            many=on_interactions_recorded,
            names=["interaction.recorded"],
        )
        # The console's warning before a contact counts the survey invites and reminders the
        # outbox does not (a link, the portal, a reminder under its own purpose).
        contact_source_register("feedback", survey_contacts)
