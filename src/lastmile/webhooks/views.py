"""``POST /hooks/in/<slug>``: a messaging provider delivers a customer's message.

A plain Django view (providers speak this signed protocol, not the bearer-token API) that
answers errors in the API's shape ``{"code", "detail", "errors": [{"index", "field",
"reason"}]}``. The checks run cheapest and least revealing first: the integration exists
(404), the signature is good and fresh (401), the integration is active (403), the body is
a message (400 not JSON, 422 a bad field). Only then is anything written.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from lastmile.api.api import error_response
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, ErrorCode
from lastmile.webhooks.models import Integration
from lastmile.webhooks.schemas import MAX_BODY_BYTES, message_parse
from lastmile.webhooks.services.integrations import message_receive
from lastmile.webhooks.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    signature_verify,
)


def _error(status: int, code: ErrorCode, detail: str, field: str, reason: str) -> HttpResponse:
    return error_response(status, code, detail, [{"index": None, "field": field, "reason": reason}])


@csrf_exempt
def inbound(request: HttpRequest, slug: str) -> HttpResponse:
    """Receive one message: 201 with its ids, 200 with the same ids when it was already
    received (the provider's retry), a 4xx saying what is wrong otherwise."""
    now = utcnow()
    if request.method != "POST":
        response = _error(
            405, ErrorCode.METHOD_NOT_ALLOWED, f"{request.path} takes POST", "method", "use POST"
        )
        response["Allow"] = "POST"
        return response
    integration = Integration.objects.filter(slug=slug).first()
    if integration is None:
        return _error(
            404,
            ErrorCode.NOT_FOUND,
            f"no integration {slug!r}",
            "slug",
            "no integration has this slug",
        )
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    too_big = f"at most {MAX_BODY_BYTES // 1024} KB"
    if declared > MAX_BODY_BYTES:
        return _error(413, ErrorCode.TOO_LARGE, f"the message is {declared} bytes", "body", too_big)
    try:
        body = request.body
    except RequestDataTooBig:
        return _error(413, ErrorCode.TOO_LARGE, "the message is too large", "body", too_big)
    if len(body) > MAX_BODY_BYTES:
        return _error(
            413, ErrorCode.TOO_LARGE, f"the message is {len(body)} bytes", "body", too_big
        )
    try:
        signature_verify(
            secret=integration.secret,
            body=body,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
            now=now,
        )
    except SignatureError as exc:
        return _error(401, exc.code, f"{exc.header}: {exc.reason}", exc.header, exc.reason)
    if not integration.active:
        return _error(
            403,
            ErrorCode.INTEGRATION_INACTIVE,
            f"integration {integration.slug} is switched off; its messages are refused",
            "slug",
            "inactive integration",
        )
    try:
        message = message_parse(body)
        received = message_receive(integration=integration, message=message, now=now)
    except DomainError as exc:
        return error_response(exc.status, exc.code, exc.detail, [e.as_dict() for e in exc.errors])
    return JsonResponse(
        {
            "interaction": received.interaction_id,
            "customer": received.customer_id,
            "case": received.case_ref,
            "duplicate": received.duplicate,
        },
        status=200 if received.duplicate else 201,
    )
