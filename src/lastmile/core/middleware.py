from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat

# Machine clients get the API's JSON error; people (console, portal forms) get a page.
MACHINE_PATHS = ("/api/", "/v1/", "/hooks/")


class BodySizeLimitMiddleware:
    """Answer 413 before reading a body that is over LASTMILE_MAX_BODY_BYTES: JSON on the
    API's paths, a page saying what to do for a person (say, a portal upload too large)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.LASTMILE_MAX_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit and not request.path.startswith(MACHINE_PATHS):
            context = {"size": filesizeformat(length), "limit": filesizeformat(limit)}
            return render(request, "core/too_large.html", context, status=413)
        if length > limit:
            body = {
                "code": "too_large",
                "detail": f"request body is {length} bytes; the limit is {limit}",
                "errors": [
                    {"index": None, "field": "body", "reason": f"larger than {limit} bytes"}
                ],
            }
            return HttpResponse(json.dumps(body), status=413, content_type="application/json")
        return self.get_response(request)
