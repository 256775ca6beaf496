"""Structured logs (``LASTMILE_LOG_FORMAT=json``): one JSON object a line, with the request
being served.

``settings.LOGGING`` uses :func:`formatter_config` and :class:`RequestContextFilter` when
the format is ``json``; the default (``text``) logs as before. Each line has ``timestamp``
(ISO 8601, UTC), ``level``, ``logger`` and ``message``; a traceback comes as
``exc_info``; a line logged while a request is served adds its ``request_id`` (the proxy's
``X-Request-ID``, or a new one, sent back in the response's header), ``method`` and, once
the URL has resolved, ``route`` (the URL pattern, as the metrics label it).

Imported by ``logging.config`` while Django starts: nothing here imports models.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

FORMATS = ("text", "json")

# Set by lastmile.core.metrics.http.MetricsMiddleware for the request being served.
request_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "lastmile_request", default=None
)


class RequestContextFilter(logging.Filter):
    """Puts the request's id, method and route on each record logged while it is served."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = request_context.get()
        if context:
            for key, value in context.items():
                if not hasattr(record, key):
                    setattr(record, key, value)
        return True


def formatter_config() -> dict[str, Any]:
    """The ``LOGGING`` formatter that writes JSON lines (python-json-logger)."""
    return {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(levelname)s %(name)s %(message)s",
        "rename_fields": {"levelname": "level", "name": "logger"},
        "timestamp": True,
    }
