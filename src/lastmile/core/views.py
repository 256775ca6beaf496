from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


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
