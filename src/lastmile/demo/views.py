"""``POST /demo/sink/<slug>``: the demo's stand-in for a messaging provider (``demo.sink``).

It answers as a provider does (200 with an id the outbox stores), and says in that answer
that the message went no further. Only with ``DEBUG`` on, as ``make demo`` runs: anywhere
else it is a 404, so a deployment has no endpoint that pretends to send."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

log = logging.getLogger("lastmile.demo")

NOT_SENT = "lastmile demo sink: accepted, not sent to any phone or chat"


@csrf_exempt  # the outbox's signed POST, not a browser form; the sink keeps nothing
@require_POST
def sink(request: HttpRequest, slug: str) -> JsonResponse:
    if not settings.DEBUG:
        raise Http404("the demo sink answers only in the demo")
    try:
        payload = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"detail": "not JSON"}, status=400)
    if not isinstance(payload, dict):
        return JsonResponse({"detail": "not a JSON object"}, status=400)
    ref = str(payload.get("external_id") or "")[:120]
    log.info("demo sink %s: %s to %s, not sent", slug, payload.get("channel"), payload.get("to"))
    return JsonResponse(
        {"id": f"demo-{ref}" if ref else "demo", "delivered": False, "note": NOT_SENT}
    )
