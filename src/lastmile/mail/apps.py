from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "lastmile.mail"
    label = "mail"
    verbose_name = "Email in and out"

    def ready(self) -> None:
        from lastmile.channels.delivery import transport_register
        from lastmile.channels.replies import reply_route_register
        from lastmile.mail.services import (
            CHANNEL_WITH_FILES,
            EMAIL_REPLY_ROUTE,
            email_send_with_files,
        )

        # Replies on an email thread go out as threaded mail; with attachments, through
        # the transport that reads them from the mail storage.
        reply_route_register(EMAIL_REPLY_ROUTE)
        transport_register(CHANNEL_WITH_FILES, email_send_with_files)
