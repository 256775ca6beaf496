"""Every write of the webhooks app, in two halves that share no state.

- ``integrations``: messaging integrations (SMS, WhatsApp, chat): a provider's signed webhook
  received onto the timeline, and replies sent back through the integration.
- ``subscriptions``: event subscriptions: domain events delivered, signed, to subscribers'
  URLs, retried with backoff, redelivered and pruned.
- ``secrets``: both halves' signing secrets, rotated by one service with its audit row.
"""
