"""The worker's half of a batch ingest: the sentiment of the inbound messages it stored.

Reading a text with the model (``lastmile.sentiment``) costs more than storing it: with the
default encoder, about 0.75 ms of CPU a message, several times the rest of an ingest. So the
batch ingest (``ingest.interactions_ingest``, the HTTP and Segment APIs) stores an inbound
message unscored and marks it ``SentimentPending``, and asks the worker for a drain once
the write has committed (:func:`sentiment_drain_soon`: at most one request a second per
process, each one after the commit it answers). :func:`interactions_sentiment_score` takes
the oldest pending messages, reads them in one batch of the model, and in one short
transaction sets each one's label and score and deletes its pending row.

- The model runs outside any transaction: on SQLite, ingest never waits for it.
- Idempotent: a batch is written whole or not at all; a worker killed mid-batch leaves the
  rows pending for the next run, and two drains at once score a message twice with the same
  result, which is written once more, harmlessly.
- A message recorded one at a time (``interaction_record``: mail, replies) is still scored
  when it is stored: one text is a few milliseconds.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.db import transaction

from lastmile.core.db import rows_update
from lastmile.customers.models import Interaction, SentimentPending
from lastmile.customers.services.timeline import sentiments_score

log = logging.getLogger(__name__)

# Messages read by the model at once, and written back in one transaction.
BATCH = 512
# At most one drain asked for per process in this many seconds.
DRAIN_SPACING_S = 1.0


@dataclass(frozen=True)
class Scored:
    messages: int = 0  # scored and written
    gone: int = 0  # pending rows whose interaction no longer exists (dropped)
    batches: int = 0


def interactions_sentiment_pending_count() -> int:
    return SentimentPending.objects.count()


def interactions_sentiment_score(*, limit: int = BATCH) -> Scored:
    """Score the oldest ``limit`` pending messages and write their sentiment (see the module)."""
    ids = list(SentimentPending.objects.order_by("pk").values_list("pk", flat=True)[:limit])
    if not ids:
        return Scored()
    bodies = dict(Interaction.objects.filter(pk__in=ids).values_list("pk", "body"))
    scored_ids = [pk for pk in ids if pk in bodies]
    sentiments = sentiments_score([bodies[pk] for pk in scored_ids])
    with transaction.atomic():
        rows_update(
            Interaction,
            [
                {"pk": pk, "sentiment_label": label, "sentiment_score": score}
                for pk, (label, score) in zip(scored_ids, sentiments, strict=True)
            ],
            ["sentiment_label", "sentiment_score"],
        )
        SentimentPending.objects.filter(pk__in=ids).delete()
    return Scored(messages=len(scored_ids), gone=len(ids) - len(scored_ids), batches=1)


def interactions_sentiment_score_all(*, limit: int = BATCH) -> Scored:
    """Score pending messages batch by batch until none is left."""
    messages = gone = batches = 0
    while True:
        done = interactions_sentiment_score(limit=limit)
        if not done.batches:
            return Scored(messages=messages, gone=gone, batches=batches)
        messages, gone, batches = messages + done.messages, gone + done.gone, batches + 1


_lock = threading.Lock()
_drain_at = 0.0  # (time.time()) when the drain this process last asked for starts


def sentiment_drain_soon() -> None:
    """Ask the worker to score what this process has just committed, at most once a second.

    Called after the commit: a drain already asked for that starts after now sees these
    rows, so none is asked for; else one is, at once or, within a second of the last one,
    when that second is over. The worker's every-minute drain catches anything left (a
    queue that was down)."""
    global _drain_at
    now = time.time()
    with _lock:
        if _drain_at > now:
            return
        delay = max(0.0, _drain_at + DRAIN_SPACING_S - now)
        _drain_at = now + delay
    from lastmile.customers.tasks import score_sentiments

    try:
        if delay:
            score_sentiments.schedule(delay=delay)
        else:
            score_sentiments()
    except Exception:  # the queue is down: the rows stay pending, the periodic drain scores them
        log.warning("could not ask the worker to score sentiments", exc_info=True)
