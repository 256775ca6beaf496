"""The funnel pages' CSV exports: the steps, the trend and every drop-off of a step.

Written row by row into a streamed response, so a step with a million drop-offs is never
held in memory. A cell that a spreadsheet would read as a formula (``=``, ``+``, ``-``,
``@``, a tab or a carriage return first: a customer's name is theirs to choose) is written
with a leading apostrophe (OWASP, "CSV Injection").
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    """A file-like object whose ``write`` hands back the line: csv.writer's rows, one string
    each, for a streamed response (Django's "Streaming large CSV files")."""

    def write(self, value: str) -> str:
        return value


def cell(value: Any) -> Any:
    """A value as a spreadsheet should show it: never run as a formula; numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_response(
    *, filename: str, header: list[str], rows: Iterable[Iterable[Any]]
) -> StreamingHttpResponse:
    """A streamed ``text/csv`` download named ``filename``."""
    writer = csv.writer(_Line())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([cell(v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
