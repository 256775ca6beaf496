"""Gauges read at scrape time: the loops, the outbox, the webhook deliveries, the queue and
the messages waiting for a sentiment.

Each is a count over a range of an index the product already keeps (``bench``-sized tables
answer in milliseconds; ``docs/deploy.md`` gives each query's PostgreSQL plan), except the
two ``failed`` counts, which have no index of their own yet and read their table.

Metrics watch every app, and ``core`` sits below them all and may not import them
(``tests/project/test_import_order.py``): the models are looked up by label when a scrape
runs, read-only, counts and one minimum each.

A part that fails (the queue's Redis down, a query error) is logged and reported as
``lastmile_metrics_part_up{part="…"} 0``; the others are still served.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from django.apps import apps
from django.db.models import Count, F, Func, IntegerField, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lastmile.core.clock import utcnow

logger = logging.getLogger(__name__)

NO_TEAM = "(none)"  # loops whose team was deleted


def _count_of(queryset) -> Subquery:  # type: ignore[no-untyped-def]
    """``(SELECT COUNT(*) FROM … WHERE …)`` as a column: one index range per outer row,
    no GROUP BY (a ``Func`` is not an aggregate to the ORM)."""
    return Subquery(
        queryset.order_by()
        .annotate(n=Func(F("pk"), function="COUNT", template="COUNT(*)"))
        .values("n"),
        output_field=IntegerField(),
    )


def loops_gauges(now: datetime) -> Iterator[Metric]:
    """Open and breached loops per team, and the sweeper's backlog.

    Breached as the inbox counts it (``loops.selectors.loop_state_counts``): open and past
    its deadline, or marked breached before it, or marked breached with no deadline and not
    paused. Per team, each is a range of ``loop_team_due_id`` (team, state, due_at, id) or of the
    partial ``loop_team_breached``; the backlog is the partial ``loop_sweep`` index."""
    Loop = apps.get_model("loops", "Loop")
    Team = apps.get_model("people", "Team")
    mine = Loop.objects.filter(team=OuterRef("pk"), state="open")
    teams = Team.objects.order_by("slug").values_list(
        "slug",
        Coalesce(_count_of(mine), 0),
        Coalesce(_count_of(mine.filter(due_at__lte=now)), 0),
        Coalesce(_count_of(mine.filter(due_at__gt=now, breached_at__isnull=False)), 0),
        Coalesce(
            _count_of(
                mine.filter(due_at__isnull=True, breached_at__isnull=False, paused_at__isnull=True)
            ),
            0,
        ),
    )
    rows = [(slug, n, a + b + c) for slug, n, a, b, c in teams]
    teamless = Loop.objects.filter(team__isnull=True, state="open").aggregate(
        n=Count("*"),
        breached=Count(
            "pk",
            filter=Q(due_at__lte=now)
            | Q(breached_at__isnull=False, due_at__gt=now)
            | Q(breached_at__isnull=False, due_at__isnull=True, paused_at__isnull=True),
        ),
    )
    if teamless["n"]:
        rows.append((NO_TEAM, teamless["n"], teamless["breached"]))
    open_ = GaugeMetricFamily("lastmile_loops_open", "Open loops, by team.", labels=["team"])
    breached = GaugeMetricFamily(
        "lastmile_loops_breached",
        "Open loops past their deadline or marked breached, by team.",
        labels=["team"],
    )
    for slug, n, b in rows:
        open_.add_metric([slug], n)
        breached.add_metric([slug], b)
    due = Loop.objects.filter(
        state="open", next_check_at__isnull=False, next_check_at__lte=now
    ).aggregate(n=Count("*"), oldest=Min("next_check_at"))
    yield open_
    yield breached
    yield GaugeMetricFamily(
        "lastmile_loops_due",
        "Open loops whose next escalation check has come: the sweeper's backlog (it runs "
        "every minute, so this stays near the number falling due in a minute).",
        value=due["n"],
    )
    yield GaugeMetricFamily(
        "lastmile_loops_due_oldest_seconds",
        "How long the longest-waiting escalation check has been due (0: none). Growing "
        "past a few minutes: no worker is sweeping.",
        value=_age(due["oldest"], now),
    )


def outbox_gauges(now: datetime) -> Iterator[Metric]:
    """Pending (its partial index ``outbox_pending`` on next_attempt_at) and failed."""
    Outbox = apps.get_model("channels", "OutboxMessage")
    pending = Outbox.objects.filter(status="pending").aggregate(
        n=Count("*"),
        due=Count("next_attempt_at", filter=Q(next_attempt_at__lte=now)),
        oldest=Min("next_attempt_at"),
    )
    failed = Outbox.objects.filter(status="failed").count()
    messages = GaugeMetricFamily(
        "lastmile_outbox_messages",
        "Outbox messages pending (held by a contact rule too) and failed for good.",
        labels=["status"],
    )
    messages.add_metric(["pending"], pending["n"])
    messages.add_metric(["failed"], failed)
    yield messages
    yield GaugeMetricFamily(
        "lastmile_outbox_due",
        "Pending outbox messages whose time to send has come.",
        value=pending["due"],
    )
    yield GaugeMetricFamily(
        "lastmile_outbox_due_oldest_seconds",
        "How long the pending message due longest ago has waited since then (0: none due).",
        value=_age(pending["oldest"], now),
    )


def webhook_gauges(now: datetime) -> Iterator[Metric]:
    """Pending (partial index ``delivery_due``) and failed deliveries."""
    Delivery = apps.get_model("webhooks", "Delivery")
    pending = Delivery.objects.filter(status="pending").aggregate(
        n=Count("*"), oldest=Min("next_attempt_at")
    )
    failed = Delivery.objects.filter(status="failed").count()
    deliveries = GaugeMetricFamily(
        "lastmile_webhook_deliveries",
        "Outgoing webhook deliveries pending (retries included) and failed after their "
        "last attempt.",
        labels=["status"],
    )
    deliveries.add_metric(["pending"], pending["n"])
    deliveries.add_metric(["failed"], failed)
    yield deliveries
    yield GaugeMetricFamily(
        "lastmile_webhook_due_oldest_seconds",
        "How long the pending delivery due longest ago has waited since then (0: none due).",
        value=_age(pending["oldest"], now),
    )


def queue_gauges(now: datetime) -> Iterator[Metric]:
    """The huey queue: tasks waiting for a worker, tasks scheduled for later (retries,
    delayed tasks), and how long the oldest waiting task has waited."""
    from huey.contrib.djhuey import HUEY

    from lastmile.core.metrics.queue import oldest_age_seconds

    storage = HUEY.storage
    yield GaugeMetricFamily(
        "lastmile_queue_tasks",
        "Tasks in the queue waiting for a worker.",
        value=storage.queue_size(),
    )
    yield GaugeMetricFamily(
        "lastmile_queue_scheduled_tasks",
        "Tasks scheduled to run later (retries with a delay, tasks with an eta).",
        value=storage.schedule_size(),
    )
    age = oldest_age_seconds(storage, now=now.timestamp())
    if age is not None:
        yield GaugeMetricFamily(
            "lastmile_queue_oldest_task_seconds",
            "How long the task at the head of the queue has waited (0: queue empty).",
            value=age,
        )


def sentiment_gauges(now: datetime) -> Iterator[Metric]:
    """Messages a batch ingest stored whose sentiment the worker has yet to score: near 0
    while the workers keep up (a drain is asked for after each ingest)."""
    pending = apps.get_model("customers", "SentimentPending")
    yield GaugeMetricFamily(
        "lastmile_sentiment_pending",
        "Ingested messages waiting for the worker to score their sentiment.",
        value=pending.objects.count(),
    )


def _age(at: datetime | None, now: datetime) -> float:
    return max(0.0, (now - at).total_seconds()) if at is not None else 0.0


PARTS: dict[str, Callable[[datetime], Iterator[Metric]]] = {
    "loops": loops_gauges,
    "outbox": outbox_gauges,
    "webhooks": webhook_gauges,
    "queue": queue_gauges,
    "sentiment": sentiment_gauges,
}


class DatabaseCollector(Collector):
    """The gauges above, each part read when collected; ``now`` is read once per scrape."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        up = GaugeMetricFamily(
            "lastmile_metrics_part_up",
            "1 if this part of the scrape was read, 0 if it failed (see the log).",
            labels=["part"],
        )
        seconds = GaugeMetricFamily(
            "lastmile_metrics_part_seconds",
            "Time this scrape spent reading each part.",
            labels=["part"],
        )
        for part, gauges in PARTS.items():
            started = time.perf_counter()
            try:
                metrics = list(gauges(now))
            except Exception:
                logger.exception("metrics: reading %s failed", part)
                up.add_metric([part], 0)
            else:
                up.add_metric([part], 1)
                yield from metrics
            seconds.add_metric([part], time.perf_counter() - started)
        yield up
        yield seconds
