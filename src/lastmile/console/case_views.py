"""Case lists and editing a case in the console: take, assign, move, priority, tags, bulk."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest

from lastmile.cases.models import Case


def case_edit_context(
    request: HttpRequest, case: Case, *, now: datetime, forms: dict[str, Any]
) -> dict[str, Any]:
    """What ``console/_case_head.html`` needs on the case page."""
    return {}
