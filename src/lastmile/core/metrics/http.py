"""What each web process counts: requests and their latencies by route, and the
interactions written to the timeline.

Labels stay few whatever the traffic: the route is the URL pattern that matched
(``api/v1/loops/{loop_id}``, ``cases/<str:ref>/``), never the path asked for; a request no
pattern matched is ``unmatched`` (a static file served by whitenoise: ``static``); the
method is one of the usual seven or ``other``; the status is its class (``2xx``…).

The metrics live in prometheus-client's default registry; with ``PROMETHEUS_MULTIPROC_DIR``
set before the process starts, their values go to files there that every process writes
and ``/metrics`` adds up (``lastmile.core.metrics.views``).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.signals import request_finished
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Histogram

from lastmile.core.events import event_subscribe
from lastmile.core.logging import request_context

REQUESTS = Counter(
    "lastmile_http_requests",
    "HTTP requests answered, by URL pattern, method and status class.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "lastmile_http_request_duration_seconds",
    "Time from the request reaching Django to its response, by URL pattern and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
INTERACTIONS = Counter(
    "lastmile_interactions_recorded",
    "Interactions written to the customer timeline (every ingest path ends there), counted "
    "when their transaction commits, by channel and direction.",
    ["channel", "direction"],
)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The timeline's channels (customers.models.Channel, which core may not import; a social
# network's interactions are stored as ``social:<network>``) and directions: any other
# value is counted as ``other``, so a client cannot add label values.
CHANNELS = frozenset(
    {"email", "chat", "phone", "sms", "whatsapp", "social", "web", "app", "field", "portal", "api"}
)
DIRECTIONS = frozenset({"inbound", "outbound", "note"})
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None and match.route:
        return str(match.route)
    static = "/" + settings.STATIC_URL.lstrip("/")
    if request.path.startswith(static):
        return "static"
    return "unmatched"


def request_id_of(request: HttpRequest) -> str:
    """The proxy's ``X-Request-ID`` when it looks like one, else a new id."""
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    return given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


class MetricsMiddleware:
    """Outermost: times and counts every response, the errors other middleware answered
    too, and gives each request an id for the logs (echoed as ``X-Request-ID``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # The web process counts the interactions it records (the ingest paths'); the
        # subscription is idempotent, so a second handler (tests) adds nothing.
        event_subscribe(on_interaction_recorded, many=on_interactions_recorded, names=[RECORDED])
        request_finished.connect(_request_forgotten, dispatch_uid="lastmile.metrics.request")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        method = request.method if request.method in METHODS else "other"
        context = {"request_id": request_id_of(request), "method": method}
        # Kept until the response is finished (``request_finished``), not reset on return:
        # Django logs a 4xx or 5xx after the middleware has returned it.
        request_context.set(context)
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        route = route_of(request)
        REQUESTS.labels(route, method, f"{response.status_code // 100}xx").inc()
        LATENCY.labels(route, method).observe(elapsed)
        response["X-Request-ID"] = context["request_id"]
        return response

    def process_view(
        self, request: HttpRequest, view: Any, args: Sequence[Any], kwargs: dict[str, Any]
    ) -> None:
        """The route is known once the URL resolved: the view's log lines carry it."""
        context = request_context.get()
        if context is not None:
            context["route"] = route_of(request)
        return None


def _request_forgotten(**kwargs: Any) -> None:
    request_context.set(None)


RECORDED = "interaction.recorded"


def _labels(row: Any) -> tuple[str, str]:
    channel = str(getattr(row, "channel", "") or "").split(":", 1)[0]
    direction = str(getattr(row, "direction", "") or "")
    return (
        channel if channel in CHANNELS else "other",
        direction if direction in DIRECTIONS else "other",
    )


def on_interactions_recorded(name: str, events: Sequence[tuple[dict[str, Any], datetime]]) -> None:
    """``interaction.recorded`` (customers, internal; one call per batch written): count
    the batch when its transaction commits, so a batch rolled back is not counted."""
    counts: dict[tuple[str, str], int] = {}
    for data, _at in events:
        key = _labels(data.get("interaction"))
        counts[key] = counts.get(key, 0) + 1

    def count() -> None:
        for (channel, direction), n in counts.items():
            INTERACTIONS.labels(channel, direction).inc(n)

    transaction.on_commit(count, robust=True)


def on_interaction_recorded(name: str, data: dict[str, Any], at: datetime) -> None:
    on_interactions_recorded(name, [(data, at)])
