"""Every write to customers, identities and the timeline, one module per part of it.

- ``customers``: identity resolution (one batch form, ``customers_resolve``; the single
  ``customer_resolve`` is a batch of one), merges and their undoing, updates.
- ``timeline``: the timeline's one writer, ``interactions_write`` (it tells
  ``interaction.recorded``, to which the loop engine reacts), and ``interaction_record``
  for one interaction; sentiment scoring.
- ``ingest``: the batch ingest of the HTTP and Segment-compatible APIs.
- ``lookups``: the write paths' batch lookups, in plain SQL.

The services other apps call are importable from here too; the helpers the modules share
(``customer_ids_resolve``, ``customer_live``, ``row_as_saved``) only from their module.
"""

from lastmile.customers.services.customers import (
    CustomerWanted,
    Resolution,
    Resolved,
    customer_merge,
    customer_resolve,
    customer_unmerge,
    customer_update,
    customers_resolve,
)
from lastmile.customers.services.ingest import (
    IngestBatch,
    InteractionIn,
    interactions_ingest,
    interactions_prepare,
)
from lastmile.customers.services.lookups import (
    customer_ids_live,
    identities_owners,
    interactions_stored,
)
from lastmile.customers.services.timeline import (
    SENTIMENT_MAX_CHARS,
    InteractionRow,
    interaction_record,
    interactions_write,
    sentiment_wanted,
    sentiments_score,
)

__all__ = [
    "SENTIMENT_MAX_CHARS",
    "CustomerWanted",
    "IngestBatch",
    "InteractionIn",
    "InteractionRow",
    "Resolution",
    "Resolved",
    "customer_ids_live",
    "customer_merge",
    "customer_resolve",
    "customer_unmerge",
    "customer_update",
    "customers_resolve",
    "identities_owners",
    "interaction_record",
    "interactions_ingest",
    "interactions_prepare",
    "interactions_stored",
    "interactions_write",
    "sentiment_wanted",
    "sentiments_score",
]
