from django.apps import AppConfig


class MacrosConfig(AppConfig):
    name = "lastmile.macros"
    label = "macros"
    verbose_name = "Macros"

    def ready(self) -> None:
        from lastmile.core.events import event_subscribe
        from lastmile.macros.services import on_reply_sent

        # A reply written with a macro: its field actions, in the reply's transaction.
        event_subscribe(on_reply_sent, names=["reply.sent"])
