"""Every write to customers, identities and the timeline, one module per part of it.

- ``customers``: identity resolution (one batch form, ``customers_resolve``; the single
  ``customer_resolve`` is a batch of one), merges and their undoing, updates.
- ``timeline``: the timeline's one writer, ``interactions_write`` (it tells
  ``interaction.recorded``, to which the loop engine reacts), and ``interaction_record``
  for one interaction; sentiment scoring.
- ``ingest``: the batch ingest of the HTTP and Segment-compatible APIs.
- ``sentiment``: the worker's half of a batch ingest, which stores inbound messages unscored:
  their sentiment, scored in batches.
- ``lookups``: the write paths' batch lookups, in plain SQL.
"""
