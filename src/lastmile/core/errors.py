"""Domain errors: a stable code, an HTTP status and the facts.

Services raise these; the API and the console render them the same way
(``{"code", "detail", "errors": [{"index", "field", "reason"}]}``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldError:
    field: str
    reason: str
    index: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


@dataclass
class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    detail: str
    errors: Sequence[FieldError] = field(default_factory=list)
    code: str = "invalid"
    status: int = 400

    def __str__(self) -> str:
        return self.detail

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "detail": self.detail,
            "errors": [e.as_dict() for e in self.errors],
        }


class InvalidInput(DomainError):
    def __init__(self, detail: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail=detail, errors=list(errors), code="invalid", status=422)


class NotFound(DomainError):
    def __init__(self, what: str) -> None:
        super().__init__(detail=f"{what} not found", code="not_found", status=404)


class Conflict(DomainError):
    def __init__(
        self, detail: str, code: str = "conflict", errors: Sequence[FieldError] = ()
    ) -> None:
        super().__init__(detail=detail, errors=list(errors), code=code, status=409)


class PermissionDenied(DomainError):
    def __init__(self, detail: str = "you may not do this") -> None:
        super().__init__(detail=detail, code="forbidden", status=403)
