"""``Idempotency-Key`` for the jobs API's writes: a driver's phone that lost its answer sends
the same write again, and it is answered as the first time was, with nothing stored twice.

Per API token, a key names one request (method, path and body: its ``fingerprint``). The
first time, the write runs and its answer (status and JSON body) is stored in the same
transaction as the write, so either both are there or neither. Again with the same request:
the stored answer, nothing run. Again with another request: 422 ``idempotency_key_reused``
naming the header. A refused write (4xx) stores nothing and is not remembered: it wrote
nothing, so sending it again simply tries again.

Two requests with one key at once: the first inserts its (pending) answer row before it
writes; the second's insert of the same key waits on the unique index until the first
commits, fails, and answers with the first's stored answer (on SQLite, IMMEDIATE
transactions already run them one after the other).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from ninja import Status

from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, ErrorCode, FieldError, InvalidInput
from lastmile.jobs.models import IdempotentAnswer

HEADER = "Idempotency-Key"
MAX_KEY = 200
PENDING = 0


class KeyReused(DomainError):
    """The key was used for another request by this token."""

    def __init__(self, key: str) -> None:
        super().__init__(
            detail=f"the Idempotency-Key {key!r} was used for another request; "
            "use a new key for each write",
            errors=[FieldError(HEADER, "used before with another method, path or body")],
            code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
            status=422,
        )


def json_ready(body: Any) -> Any:
    """``body`` as the JSON it will be stored and answered as (dates as ISO strings)."""
    return json.loads(json.dumps(body, cls=DjangoJSONEncoder))


def fingerprint(request: HttpRequest) -> str:
    """SHA-256 of the method, path and body (JSON bodies compared by value, not spacing)."""
    raw = request.body or b""
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        body = raw
    return hashlib.sha256(f"{request.method} {request.path}\n".encode() + body).hexdigest()


def _key_of(request: HttpRequest) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY or not key.isprintable() or not key.isascii():
        raise InvalidInput(
            "bad Idempotency-Key",
            [FieldError(HEADER, f"1 to {MAX_KEY} printable ASCII characters")],
        )
    return key


def _replay(found: IdempotentAnswer, fp: str) -> Status:
    if found.fingerprint != fp:
        raise KeyReused(found.key)
    return Status(found.status, found.body)


def idempotent(
    request: HttpRequest,
    run: Callable[[], tuple[int, Any]],
    *,
    job_id: int | None = None,
    user: Any = None,
) -> Status:
    """Answer the write ``run`` (which returns its status and body) once per key.

    Keys belong to the request's API token, or to ``user`` when given (a signed-in page's
    writes: the driver's page). Without the header ``run`` simply runs. ``job_id`` is kept
    with the answer (the job the write was about; a creation's is the new job's id, taken
    from the body)."""
    key = _key_of(request)
    if key is None:
        status, body = run()
        return Status(status, json_ready(body))
    scope: dict[str, Any] = (
        {"user": user} if user is not None else {"token": request.auth}  # type: ignore[attr-defined]  # the ApiToken (TokenAuth)
    )
    fp = fingerprint(request)
    with transaction.atomic():
        found = IdempotentAnswer.objects.filter(**scope, key=key).first()
        if found is not None:
            return _replay(found, fp)
        try:
            with transaction.atomic():
                answer = IdempotentAnswer.objects.create(
                    **scope,
                    key=key,
                    endpoint=f"{request.method} {request.path}"[:200],
                    fingerprint=fp,
                    job_id=job_id,
                    status=PENDING,
                    body={},
                    created_at=utcnow(),
                )
        except IntegrityError:
            # The same key, in a transaction that committed while this one waited.
            return _replay(IdempotentAnswer.objects.get(**scope, key=key), fp)
        status, body = run()
        answer.status = status
        answer.body = json_ready(body)
        if answer.job_id is None and isinstance(answer.body, dict):
            answer.job_id = (
                answer.body.get("id") if isinstance(answer.body.get("id"), int) else None
            )
        answer.save(update_fields=["status", "body", "job"])
    return Status(answer.status, answer.body)
