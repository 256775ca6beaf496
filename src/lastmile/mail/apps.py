from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "lastmile.mail"
    label = "mail"
    verbose_name = "Email in and out"

    def ready(self) -> None:
        from lastmile.channels.replies import reply_route_register
        from lastmile.mail.services import email_reply_route

        # Replies on an email thread go out as threaded mail.
        reply_route_register(email_reply_route)
