from __future__ import annotations

from functools import cache
from pathlib import Path

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

FAVICON = Path(__file__).parent / "static" / "core" / "favicon.svg"


def _db_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def _queue_ok() -> bool:
    from huey.contrib.djhuey import HUEY

    try:
        HUEY.storage.queue_size()
        return True
    except Exception:
        return False


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 {"db": "ok", "queue": "ok"}; 503 naming what is down."""
    status = {"db": "ok" if _db_ok() else "down", "queue": "ok" if _queue_ok() else "down"}
    return JsonResponse(status, status=200 if all(v == "ok" for v in status.values()) else 503)


@cache
def _favicon() -> bytes:
    return FAVICON.read_bytes()


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """The site's icon at the address browsers ask for unprompted (``/favicon.ico``), so no
    page logs a 404 for it; an SVG (every browser the console supports draws one)."""
    response = HttpResponse(_favicon(), content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=86400"
    return response
