"""The recovery pages: a funnel's close rate and what recovery loops won, and its CSV; one
recovery with its loop (linked from the customer page's recoveries panel).

A GET page: the funnel and the days are in the query string, so the page is a link to
share and its export takes the same query. The funnel's counts come from the analytics copy
(``funnels.services.analytics_engine``), the recoveries from the database.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET

from lastmile.console.pages import page_chrome
from lastmile.console.views import error_response
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, InvalidInput
from lastmile.funnels.csv import csv_response
from lastmile.funnels.forms import day_range_check
from lastmile.funnels.funnel_selectors import DEFAULT_RANGE, analytics_freshness, funnel_list
from lastmile.funnels.services import analytics_engine
from lastmile.recovery.selectors import (
    CloseRate,
    close_rate,
    recoveries_list,
    recovery_get,
    rules_list,
    weekly_rows,
)
from lastmile.recovery.templatetags.recovery_tags import rows_for

DEFAULT_DAYS = DEFAULT_RANGE.days  # the close-rate API's default too: the 30 days to today
MAX_DAYS = 366
RECENT = 50  # recoveries listed under the figures


class CloseRateForm(forms.Form):
    funnel = forms.TypedChoiceField(label="Funnel", coerce=int)
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data: Any, *, funnels: list[tuple[int, str]], today: date) -> None:
        defaults = {
            "funnel": str(funnels[0][0]) if funnels else "",
            "start": (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
            "end": today.isoformat(),
        }
        given = {k: v for k, v in data.items() if k in defaults and v not in ("", None)}
        super().__init__({**defaults, **given})
        self.fields["funnel"].choices = funnels  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        day_range_check(self, data, max_days=MAX_DAYS)
        return data


def _asked(request: HttpRequest, now: datetime) -> tuple[CloseRateForm, CloseRate | None, str]:
    funnels = [(f.pk, f.name) for f in funnel_list(viewer=request.user)]
    form = CloseRateForm(request.GET, funnels=funnels, today=now.date())
    if not funnels or not form.is_valid():
        return form, None, ""
    start = datetime.combine(form.cleaned_data["start"], time.min, tzinfo=UTC)
    end = datetime.combine(form.cleaned_data["end"], time.max, tzinfo=UTC)
    try:
        report = close_rate(
            funnel_id=form.cleaned_data["funnel"],
            viewer=request.user,
            from_=start,
            to=min(end, now),
            now=now,
            engine=analytics_engine(),
        )
    except DomainError as exc:
        return form, None, exc.detail
    return form, report, ""


@login_required
@require_GET
def close_rate_page(request: HttpRequest) -> HttpResponse:
    now = utcnow()
    form, report, error = _asked(request, now)
    engine = analytics_engine()
    return render(
        request,
        "recovery/close_rate.html",
        {
            **page_chrome(request, now),
            "form": form,
            "report": report,
            "error": error,
            "rules": list(rules_list(viewer=request.user, funnel=report.funnel))
            if report is not None
            else [],
            "recent": list(
                recoveries_list(viewer=request.user, funnel=report.funnel).order_by(
                    "-abandoned_at", "-id"
                )[:RECENT]
            )
            if report is not None
            else [],
            "freshness": analytics_freshness(engine=engine),
            "query": request.GET.urlencode(),
        },
    )


@login_required
@require_GET
def close_rate_csv(request: HttpRequest) -> HttpResponseBase:
    now = utcnow()
    form, report, error = _asked(request, now)
    if report is None:
        detail = error or "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        return error_response(request, InvalidInput(detail or "no funnel to count"))
    header, *rows = weekly_rows(report)
    return csv_response(
        filename=f"close-rate-{report.funnel.pk}-{report.start:%Y%m%d}-{report.end:%Y%m%d}.csv",
        header=header,
        rows=rows,
    )


@login_required
@require_GET
def recovery_detail(request: HttpRequest, recovery_id: int) -> HttpResponse:
    """One recovery: what was abandoned, how it ended, and its loop with the trail. Not the
    viewer's teams' (or none): the console's 404."""
    now = utcnow()
    try:
        recovery = recovery_get(recovery_id=recovery_id, viewer=request.user)
    except DomainError as exc:
        return error_response(request, exc)
    return render(
        request,
        "recovery/detail.html",
        {**page_chrome(request, now), "row": rows_for([recovery], now=now)[0], "r": recovery},
    )
