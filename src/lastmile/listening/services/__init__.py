"""Every write to listening, one module per part of it.

- ``terms``: watch terms, the queries mentions are matched against, and brand handles.
- ``mentions``: importing a batch of mentions — terms, authors and their influence,
  customers, threads, and the conversations addressed to a brand on the timeline — in
  steps over one ``Batch`` (``batch``): ``matching`` (terms, brand, sentiment, authors,
  customers), ``threads`` (conversations, cases, timeline entries) and ``writes``.
- ``replies``: the case a reply to a mention goes on, dismissing a mention, and keeping
  mentions in step with their reply loops.
- ``files``: a file import's progress, batch by batch.

The public functions are importable from here too.
"""

from lastmile.listening.services.batch import (
    IngestResult,
    Scores,
    channel_of,
    mention_interaction_data,
)
from lastmile.listening.services.files import (
    MAX_RUN_ERRORS,
    importrun_batch,
    importrun_begin,
    importrun_finish,
)
from lastmile.listening.services.mentions import mentions_ingest, mentions_score
from lastmile.listening.services.replies import (
    mention_authors_lock,
    mention_case,
    mention_case_open,
    mention_dismiss,
    on_loop_event,
    on_loop_events,
)
from lastmile.listening.services.terms import Terms, brand_term_ensure, watchterm_create

__all__ = [
    "MAX_RUN_ERRORS",
    "IngestResult",
    "Scores",
    "Terms",
    "brand_term_ensure",
    "channel_of",
    "importrun_batch",
    "importrun_begin",
    "importrun_finish",
    "mention_authors_lock",
    "mention_case",
    "mention_case_open",
    "mention_dismiss",
    "mention_interaction_data",
    "mentions_ingest",
    "mentions_score",
    "on_loop_event",
    "on_loop_events",
    "watchterm_create",
]
