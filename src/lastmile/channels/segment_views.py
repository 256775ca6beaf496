"""Segment HTTP Tracking API at the site root: ``/v1/track`` … ``/v1/batch``.

Plain Django views (Segment clients speak this protocol, not the ninja API) that answer
errors in the API's shape: ``{"code", "detail", "errors": [{"index", "field", "reason"}]}``.
Segment clients drop a batch on 400/413 and retry on 429/5xx, so 400/413 are only for data
that can never be accepted, and a busy database answers 429 with Retry-After.
"""

from __future__ import annotations

import base64
import binascii

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from lastmile.api.api import error_response
from lastmile.channels import segment
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, ErrorCode


def _basic_username(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0]


def _unauthorized() -> HttpResponse:
    response = error_response(
        401,
        ErrorCode.UNAUTHORIZED,
        "a valid write key is required as the HTTP Basic username",
        [
            {
                "index": None,
                "field": "Authorization",
                "reason": "missing, unknown or revoked write key",
            }
        ],
    )
    response["WWW-Authenticate"] = 'Basic realm="lastmile"'
    return response


def _error(exc: DomainError) -> HttpResponse:
    response = error_response(exc.status, exc.code, exc.detail, [e.as_dict() for e in exc.errors])
    if isinstance(exc, segment.Saturated):
        response["Retry-After"] = str(segment.RETRY_AFTER_SECONDS)
    return response


def _handle(request: HttpRequest, kind: str | None) -> HttpResponse:
    received_at = utcnow()
    limit = segment.MAX_BATCH_BYTES if kind is None else segment.MAX_MESSAGE_BYTES
    too_big_status = 413 if kind is None else 400
    what = "batch" if kind is None else "message"
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    try:
        encoding = request.META.get("HTTP_CONTENT_ENCODING", "")
        if declared > limit and not encoding:
            raise segment.bad_request(
                f"the {what} is {declared} bytes; the limit is {limit // 1024} KB",
                "body",
                status=too_big_status,
            )
        try:
            body = request.body
        except RequestDataTooBig:
            raise segment.bad_request(
                f"the {what} is larger than {limit // 1024} KB", "body", status=too_big_status
            ) from None
        raw = segment.body_decode(body, encoding=encoding, limit=limit)
        if len(raw) > limit:
            raise segment.bad_request(
                f"the {what} is {len(raw)} bytes; the limit is {limit // 1024} KB",
                "body",
                status=too_big_status,
            )
        key = _basic_username(request)
        if key is not None:
            source = segment.source_for_key(key)
            if source is None:
                return _unauthorized()
            payload = segment.body_parse(raw)
        else:
            # Segment also accepts the key in the body; no key anywhere is a 401.
            try:
                payload = segment.body_parse(raw)
            except DomainError:
                return _unauthorized()
            body_key = payload.get("writeKey") if isinstance(payload, dict) else None
            source = segment.source_for_key(body_key if isinstance(body_key, str) else "")
            if source is None:
                return _unauthorized()
        items = segment.request_parse(payload, kind=kind, received_at=received_at, source=source)
        segment.events_record(items=items, now=received_at)
    except DomainError as exc:
        if exc.status == 422:  # the timeline refused an item: still the client's data
            exc.status = 400
        return _error(exc)
    return JsonResponse({"success": True})


def _endpoint(kind: str | None):  # type: ignore[no-untyped-def]
    @csrf_exempt
    def view(request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            response = error_response(
                405,
                ErrorCode.METHOD_NOT_ALLOWED,
                f"{request.path} takes POST",
                [{"index": None, "field": "method", "reason": "use POST"}],
            )
            response["Allow"] = "POST"
            return response
        return _handle(request, kind)

    view.__name__ = f"segment_{kind or 'batch'}"
    return view


urlpatterns = [
    path("batch", _endpoint(None), name="segment-batch"),
    path("import", _endpoint(None), name="segment-import"),  # the older name for batch
    *(path(kind, _endpoint(kind), name=f"segment-{kind}") for kind in segment.TYPES),
]
