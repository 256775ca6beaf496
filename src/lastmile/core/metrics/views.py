"""``GET /metrics``: Prometheus's text format, for a scraper holding the token.

- ``LASTMILE_METRICS_TOKEN`` unset: 404, saying so (the endpoint is off).
- No ``Authorization: Bearer <token>``, or another token: 401 with ``WWW-Authenticate``.
  The token is compared in constant time (both sides hashed first, so neither its content
  nor its length shows in the time taken).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from lastmile.core.metrics.collector import DatabaseCollector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def scrape_registry() -> CollectorRegistry:
    """What a scrape reads: the request and ingest metrics (every process's, added up from
    ``PROMETHEUS_MULTIPROC_DIR`` when it is set; else this process's registry, with its
    process and Python metrics) and the gauges read from the database now."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROCESS_ENV):
        MultiProcessCollector(registry)
    else:
        registry.register(_Everything(REGISTRY))
    registry.register(DatabaseCollector())
    return registry


class _Everything:
    """Another registry's metrics, collected as one collector of this one."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self):  # type: ignore[no-untyped-def]
        return self.source.collect()


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def token_matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(_digest(given), _digest(expected))


def _text(body: str, status: int) -> HttpResponse:
    return HttpResponse(body + "\n", status=status, content_type="text/plain; charset=utf-8")


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    expected = settings.LASTMILE_METRICS_TOKEN
    if not expected:
        return _text("metrics are off: set LASTMILE_METRICS_TOKEN to serve them", 404)
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not token_matches(given.strip(), expected):
        response = _text(
            "send the metrics token as 'Authorization: Bearer <LASTMILE_METRICS_TOKEN>'", 401
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
