from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "lastmile.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks and messaging integrations"

    def ready(self) -> None:
        from lastmile.channels.delivery import transport_register
        from lastmile.channels.replies import reply_route_register
        from lastmile.core.events import event_subscribe
        from lastmile.webhooks.models import MessagingChannel
        from lastmile.webhooks.services.integrations import MESSAGE_REPLY_ROUTE, message_transport
        from lastmile.webhooks.services.subscriptions import deliveries_queue, deliveries_queue_many

        # Every domain event may be owed to a subscriber: queue its deliveries (a run of
        # events, such as a sweep's breaches, with one read of the subscriptions).
        event_subscribe(deliveries_queue, many=deliveries_queue_many)
        # A console reply on SMS, WhatsApp or chat goes back through the integration.
        reply_route_register(MESSAGE_REPLY_ROUTE)
        # Replies on messaging channels go out through their integration ("sms:<slug>").
        for channel in MessagingChannel.values:
            transport_register(channel, message_transport)
