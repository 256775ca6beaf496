"""The interaction table's columns that its one writer fills, in the order of its row tuples.

Apart from the services, and importing nothing, so that the bench (which imports no Django)
fills its own copies of the table (its bulk loads and the ingest floor) with the same columns.
"""

INTERACTION_COLUMNS = (
    "customer_id",
    "case_id",
    "channel",
    "direction",
    "occurred_at",
    "recorded_at",
    "actor_id",
    "body",
    "data",
    "source_id",
    "sentiment_label",
    "sentiment_score",
)
