"""The funnels' console pages: the saved funnels, one funnel's chart, trend and drop-offs,
an ad hoc funnel, and their CSV exports; admins save, edit and archive funnels from them.

Every page is a GET: the range, the breakdown and the drop-off step are in the query string,
so a page is a link to share and its exports take the same query. Only the admins' forms
(save, edit, archive) POST, through ``funnel_services``, which checks who may write. The numbers come from the
analytics copy (``services.analytics_engine``), which the worker refreshes; each page says
how fresh it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pydantic import ValidationError

from lastmile.console.pages import page_chrome
from lastmile.console.views import error_response
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, FieldError, InvalidInput, NotFound, PermissionDenied
from lastmile.funnels import funnel_selectors
from lastmile.funnels.csv import csv_response
from lastmile.funnels.definitions import FunnelDefinition, Matcher, Step
from lastmile.funnels.engines import Engine
from lastmile.funnels.forms import (
    AdhocForm,
    FunnelEditForm,
    FunnelSaveForm,
    RangeForm,
    definition_errors,
    service_field,
)
from lastmile.funnels.funnel_services import (
    funnel_archive,
    funnel_create,
    funnel_update,
    may_write_funnels,
)
from lastmile.funnels.models import Funnel
from lastmile.funnels.results import (
    DropoffCursor,
    DropoffPage,
    FunnelResult,
    StepResult,
    TrendPoint,
)
from lastmile.funnels.services import analytics_engine

DROPOFF_PAGE = 25
EXPORT_PAGE = 2000  # drop-offs read per engine query while an export streams
LIST_DAYS = 30


# --- what a page asks ------------------------------------------------------------------


@dataclass
class Asked:
    """A funnel page's request: the saved funnel (None: ad hoc), its forms, and the
    definition to ask — None while a form has errors, each shown on its field."""

    funnel: Funnel | None
    range_form: RangeForm
    adhoc_form: AdhocForm | None
    query: FunnelDefinition | None = None
    errors: list[str] = field(default_factory=list)  # not tied to a field of the forms

    @property
    def title(self) -> str:
        return self.funnel.name if self.funnel is not None else "Try a funnel"


def _today(now: datetime) -> date:
    return timezone.localdate(now)


def _ask(
    request: HttpRequest, funnel_id: int | None, now: datetime, *, export: bool = False
) -> Asked:
    """Read the forms and build the definition; raise NotFound for a funnel not there (or
    not for this viewer). An archived funnel still answers: old links keep working. The ad
    hoc page opens empty without steps; an export without them is an error on the field."""
    funnel = (
        funnel_selectors.funnel_get(funnel_id=funnel_id, viewer=request.user)
        if funnel_id is not None
        else None
    )
    range_form = RangeForm(request.GET, today=_today(now))
    adhoc_form = None
    stored: dict[str, Any] | None = funnel.definition if funnel is not None else None
    if funnel is None:
        adhoc_form = AdhocForm(request.GET if export or "steps" in request.GET else None)
        if adhoc_form.is_valid():
            stored = adhoc_form.definition()
    asked = Asked(funnel=funnel, range_form=range_form, adhoc_form=adhoc_form)
    if not range_form.is_valid() or stored is None:
        return asked
    start, end = range_form.bounds()
    try:
        asked.query = FunnelDefinition.model_validate(
            {**stored, "from": start, "to": end, "breakdown": range_form.breakdown_asked()}
        )
    except ValidationError as exc:
        for name, messages in definition_errors(exc).items():
            form = next((f for f in (range_form, adhoc_form) if f and name in f.fields), None)
            if form is not None:
                form.add_error(name, messages)
            else:  # a saved definition no longer valid: say so, nothing to fix on the page
                asked.errors += messages
    return asked


# --- trend -----------------------------------------------------------------------------


def _trend(engine: Engine, d: FunnelDefinition, interval: str) -> list[TrendPoint]:
    """The engine's trend with the periods nobody entered in as zeros, so the chart's axis
    is the whole range (days and weeks in UTC, as the engine counts them)."""
    found = {p.start: p for p in engine.trend(d, interval="week" if interval == "week" else "day")}
    first = d.from_.astimezone(UTC).date()
    last = d.to.astimezone(UTC).date()
    step = timedelta(days=1)
    if interval == "week":
        first -= timedelta(days=first.weekday())
        step = timedelta(days=7)
    points = []
    day = first
    while day <= last:
        point = found.pop(day, None)
        points.append(point or TrendPoint(start=day, entered=0, converted=0))
        day += step
    return sorted(points + list(found.values()), key=lambda p: p.start)


# --- drop-offs -------------------------------------------------------------------------


@dataclass(frozen=True)
class DropoffRow:
    """One person who dropped off, as the viewer may see them: ``name`` None when they are
    not on a case or loop of the viewer's teams (their customer page would be refused)."""

    customer_id: int
    name: str | None
    last_event: str | None
    last_event_at: datetime | None
    window_open: bool | None


def _dropoff_rows(request: HttpRequest, page: DropoffPage) -> list[DropoffRow]:
    names = funnel_selectors.customer_names(ids=page.people, viewer=request.user)
    return [
        DropoffRow(
            customer_id=p.customer_id,
            name=names.get(p.customer_id),
            last_event=p.last_event,
            last_event_at=p.last_event_at,
            window_open=p.window_open,
        )
        for p in page.details
    ]


def _dropoff_step(
    request: HttpRequest, d: FunnelDefinition, result: FunnelResult | None = None
) -> int:
    """The 0-based step whose drop-offs are listed: ``?step=k`` (1-based, k >= 2), else
    the step most people were lost at (the first such, step 2 when nobody was lost)."""
    raw = request.GET.get("step", "")
    if raw.isdigit() and 2 <= int(raw) <= len(d.steps):
        return int(raw) - 1
    if result is None:
        return 1
    return -max((lost, -k) for k, _, lost in _losses(d, result))[1]


def _after(request: HttpRequest) -> DropoffCursor | None:
    """The drop-off page asked: after the cursor ``?after=`` (a link's), else the first."""
    return DropoffCursor.parse(request.GET.get("after", "")[:50])


# --- pages -----------------------------------------------------------------------------


def _query_string(request: HttpRequest, **changes: Any) -> str:
    q: QueryDict = request.GET.copy()
    for k, v in changes.items():
        if v is None:
            q.pop(k, None)
        else:
            q[k] = str(v)
    return q.urlencode()


def _exports(
    request: HttpRequest, funnel_id: int | None, step: int | None = None
) -> dict[str, str]:
    """The CSV exports' addresses, with the page's query (less its drop-off paging; the
    drop-offs' with the step listed, 0-based ``step``)."""
    out = {}
    for what in ("steps", "trend", "dropoffs"):
        listed = step + 1 if what == "dropoffs" and step is not None else None
        query = _query_string(request, after=None, **({"step": listed} if listed else {}))
        if funnel_id is None:
            url = reverse(f"funnels:adhoc_{what}_csv")
        else:
            url = reverse(f"funnels:{what}_csv", args=[funnel_id])
        out[what] = f"{url}?{query}" if query else url
    return out


def _funnel_page(
    request: HttpRequest,
    funnel_id: int | None,
    *,
    export: bool = False,
    save_form: FunnelSaveForm | None = None,
    status: int = 200,
) -> HttpResponse:
    now = utcnow()
    try:
        asked = _ask(request, funnel_id, now, export=export)
    except NotFound as exc:
        return error_response(request, exc)
    engine = analytics_engine()
    may_write = may_write_funnels(request.user)
    context: dict[str, Any] = {
        **page_chrome(request, now),
        "asked": asked,
        "freshness": funnel_selectors.analytics_freshness(engine=engine),
        "exports": _exports(request, funnel_id),
        "may_write": may_write,
        "save_form": save_form or (FunnelSaveForm() if may_write and funnel_id is None else None),
    }
    d = asked.query
    if d is None:
        has_errors = asked.range_form.errors or (asked.adhoc_form and asked.adhoc_form.errors)
        status = 422 if has_errors or asked.errors else status
        return render(request, "funnels/funnel.html", context, status=status)
    result = engine.funnel(d)
    interval = asked.range_form.cleaned_data["interval"]
    trend = _trend(engine, d, interval)
    step = _dropoff_step(request, d, result)
    page = engine.dropoffs(
        d, step=step, limit=DROPOFF_PAGE, now=now, newest_first=True, cursor=_after(request)
    )
    context.update(
        window=duration(d.window_seconds),
        exclusions=[
            f"{x.name}{' (' + step_detail_filters(x) + ')' if x.where else ''} between steps"
            f" {first + 1} and {last + 1}"
            for x in d.exclusions
            for first, last in [d.exclusion_spans(x)]
        ],
        exports=_exports(request, funnel_id, step),
        result=result,
        rows=_step_rows(result.steps, d),
        chart=_chart_data(result),
        buckets=_bucket_rows(result, d),
        trend=trend,
        trend_chart=_trend_data(trend, interval),
        dropoff_step=step,
        dropoff_tabs=[
            {
                "number": k + 1,
                "name": s.name,
                "lost": rows_lost,
                "query": _query_string(request, after=None, step=k + 1),
            }
            for k, s, rows_lost in _losses(d, result)
        ],
        dropoffs=_dropoff_rows(request, page),
        dropoffs_next=(
            _query_string(request, after=page.next_cursor.text(), step=step + 1)
            if page.next_cursor is not None
            else None
        ),
        dropoffs_first=(
            _query_string(request, after=None, step=step + 1) if _after(request) else None
        ),
    )
    return render(request, "funnels/funnel.html", context, status=status)


def _losses(d: FunnelDefinition, result: FunnelResult) -> list[tuple[int, Any, int]]:
    """Each step after the first: its index, the step, and how many dropped off there
    (counted at the last required step before it, not at it)."""
    out = []
    for k, step in enumerate(d.steps):
        prev = d.required_before(k)
        if prev is not None:
            out.append((k, step, result.steps[prev].count - result.steps[k].count))
    return out


def duration(seconds: float | None) -> str:
    """A time to convert as people read it: ``45 s``, ``3 min 20 s``, ``5 h 12 min``,
    ``2 d 4 h``; an empty string for none."""
    if seconds is None:
        return ""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min" + (f" {s % 60} s" if s % 60 else "")
    if s < 86400:
        return f"{s // 3600} h" + (f" {s % 3600 // 60} min" if s % 3600 // 60 else "")
    return f"{s // 86400} d" + (f" {s % 86400 // 3600} h" if s % 86400 // 3600 else "")


OPS = {
    "equals": "is",
    "not_equals": "is not",
    "contains": "contains",
    "gt": ">",
    "lt": "<",
    "is_set": "is set",
}


def step_detail_filters(m: Matcher) -> str:
    """A step's or exclusion's property filters: ``plan is "pro", value > 100``."""
    return ", ".join(
        f"{f.property} {OPS[f.op]}" + ("" if f.op == "is_set" else " " + json.dumps(f.value))
        for f in m.where
    )


def step_detail(step: Step) -> str:
    """What a step asks besides its name: ``page · plan is "pro" · optional · within 1 h``."""
    parts = [step.kind] if step.kind != "track" else []
    if step.where:
        parts.append(step_detail_filters(step))
    if step.optional:
        parts.append("optional")
    if step.within_seconds is not None:
        parts.append(f"within {duration(step.within_seconds)}")
    if step.min_gap_seconds:
        parts.append(f"at least {duration(step.min_gap_seconds)} later")
    return " · ".join(parts)


def _step_rows(steps: list[StepResult], d: FunnelDefinition) -> list[dict[str, Any]]:
    return [
        {
            "step": s,
            "detail": step_detail(d.steps[s.index]),
            "number": s.index + 1,
            "lost": steps[s.index - 1].count - s.count if s.index else None,
            "from_first": percent_text(s.conversion_from_first),
            "from_previous": percent_text(s.conversion_from_previous) if s.index else "—",
            "median": duration(s.median_seconds_from_previous),
            "p90": duration(s.p90_seconds_from_previous),
        }
        for s in steps
    ]


def percent_text(v: float | None) -> str:
    """A rate as the table shows it: ``42.5 %``, ``100 %``; a dash when undefined."""
    if v is None:
        return "—"
    return f"{round(v * 100, 1):g} %"


def _percent(v: float | None) -> float | None:
    return round(v * 100, 1) if v is not None else None


def _chart_data(result: FunnelResult) -> dict[str, Any]:
    return {
        "labels": [f"{s.index + 1}. {s.label}" for s in result.steps],
        "counts": [s.count for s in result.steps],
        "from_first": [_percent(s.conversion_from_first) for s in result.steps],
        "from_previous": [_percent(s.conversion_from_previous) for s in result.steps],
    }


def _bucket_label(value: str | None, other: bool) -> str:
    return "Other" if other else "(none)" if value is None else value


def _bucket_rows(result: FunnelResult, d: FunnelDefinition) -> list[dict[str, Any]]:
    """Each breakdown bucket: its label and its steps' counts and conversions. A first-touch
    team's bucket says the team's name (its value, the key in the API and the CSV, is the
    slug)."""
    buckets = result.breakdown or []
    names: dict[str, str] = {}
    if d.breakdown is not None and d.breakdown.first_touch == "team":
        names = funnel_selectors.team_names([b.value for b in buckets])
    return [
        {
            "label": names.get(b.value or "") or _bucket_label(b.value, b.other),
            "other": b.other,
            "people": b.people,
            "steps": b.steps,
            "conversion": percent_text(b.steps[-1].conversion_from_first if b.steps else None),
        }
        for b in buckets
    ]


def _trend_data(trend: list[TrendPoint], interval: str) -> dict[str, Any]:
    return {
        "interval": interval,
        "labels": [p.start.isoformat() for p in trend],
        "entered": [p.entered for p in trend],
        "converted": [p.converted for p in trend],
        "conversion": [_percent(p.rate) for p in trend],
    }


@login_required
@require_GET
def funnels_index(request: HttpRequest) -> HttpResponse:
    """The saved funnels, each with its entrants and overall conversion over the last 30 days;
    ``?archived=1``: the archived ones, each with its "Bring back" (admins)."""
    now = utcnow()
    archived = request.GET.get("archived") == "1"
    engine = analytics_engine()
    today = _today(now)
    form = RangeForm(
        {"start": (today - timedelta(days=LIST_DAYS - 1)).isoformat(), "end": today.isoformat()},
        today=today,
    )
    form.is_valid()
    start, end = form.bounds()
    rows: list[dict[str, Any]] = []
    for funnel in funnel_selectors.funnel_list(viewer=request.user, archived=archived):
        try:
            d = FunnelDefinition.model_validate({**funnel.definition, "from": start, "to": end})
        except ValidationError:
            rows.append({"funnel": funnel, "result": None})
            continue
        result = engine.funnel(d)
        rows.append(
            {
                "funnel": funnel,
                "steps": len(d.steps),
                "entered": result.people,
                "conversion": percent_text(result.steps[-1].conversion_from_first),
            }
        )
    return render(
        request,
        "funnels/list.html",
        {
            **page_chrome(request, now),
            "rows": rows,
            "archived": archived,
            "may_write": may_write_funnels(request.user),
            "days": LIST_DAYS,
            "freshness": funnel_selectors.analytics_freshness(engine=engine),
        },
    )


@login_required
@require_GET
def funnel_detail(request: HttpRequest, funnel_id: int) -> HttpResponse:
    """One saved funnel over a range: chart, table, trend and the drop-offs of a step."""
    return _funnel_page(request, funnel_id)


@login_required
@require_http_methods(["GET", "POST"])
def funnel_adhoc(request: HttpRequest) -> HttpResponse:
    """A funnel tried without saving it: the same page, its steps in the query string.

    A POST (admins) saves the steps of the query string under the name, description and
    team it sends, and opens the saved funnel; refused, the page again with the errors on
    their fields.
    """
    if request.method != "POST":
        return _funnel_page(request, None)
    if not may_write_funnels(request.user):
        return error_response(request, PermissionDenied("only admins may save funnels"))
    form = FunnelSaveForm(request.POST)
    steps = AdhocForm(request.GET)
    status = 422
    if form.is_valid() and steps.is_valid():
        try:
            funnel = funnel_create(
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"].strip(),
                team=form.cleaned_data["team"],
                definition=steps.definition(),
                actor=request.user,
                now=utcnow(),
            )
        except DomainError as exc:
            _show_errors(form, exc)
            status = exc.status
        else:
            messages.success(request, f"Saved the funnel {funnel.name}.")
            return redirect("funnels:detail", funnel.pk)
    elif not steps.is_valid():
        form.add_error(None, "Nothing was saved: fix the steps first.")
    return _funnel_page(request, None, save_form=form, status=status)


def _show_errors(form: FunnelSaveForm, exc: DomainError) -> None:
    """A service's refusal on the form: each error on the field it names (a step's with its
    number), the rest (and a refusal naming no field) above the form."""
    if not exc.errors:
        form.add_error(None, exc.detail)
    for e in exc.errors:
        name = service_field(e.field)
        reason = e.reason
        if name == "name" and reason == "taken":
            reason = "Another funnel has this name (an archived one counts)."
        elif name == "steps" and "[" in e.field:
            number = e.field.split("[", 1)[1].split("]", 1)[0]
            if number.isdigit():
                reason = f"step {int(number) + 1}: {reason}"
        if name is not None and name in form.fields:
            form.add_error(name, reason)
        else:
            form.add_error(None, f"{e.field}: {reason}")


def _write_refused(request: HttpRequest, funnel_id: int) -> HttpResponse | Funnel:
    """The funnel an admin may change, or the 404 / 403 page."""
    try:
        funnel = funnel_selectors.funnel_get(funnel_id=funnel_id, viewer=request.user)
    except NotFound as exc:
        return error_response(request, exc)
    if not may_write_funnels(request.user):
        return error_response(
            request, PermissionDenied("only admins may change or archive funnels")
        )
    return funnel


@login_required
@require_http_methods(["GET", "POST"])
def funnel_edit(request: HttpRequest, funnel_id: int) -> HttpResponse:
    """A saved funnel's name, description, team and steps (admins): saved, its page again."""
    funnel = _write_refused(request, funnel_id)
    if isinstance(funnel, HttpResponse):
        return funnel
    now = utcnow()
    status = 200
    if request.method == "POST":
        form = FunnelEditForm(request.POST, funnel=funnel)
        status = 422
        if form.is_valid():
            try:
                funnel_update(
                    funnel=funnel,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"].strip(),
                    team=form.cleaned_data["team"],
                    definition=form.definition(),
                    actor=request.user,
                    now=now,
                )
            except DomainError as exc:
                _show_errors(form, exc)
                status = exc.status
                funnel.refresh_from_db()
            else:
                messages.success(request, f"Saved the funnel {funnel.name}.")
                return redirect("funnels:detail", funnel.pk)
    else:
        form = FunnelEditForm(funnel=funnel)
    return render(
        request,
        "funnels/edit.html",
        {**page_chrome(request, now), "funnel": funnel, "form": form},
        status=status,
    )


@login_required
@require_POST
def funnel_archive_toggle(request: HttpRequest, funnel_id: int) -> HttpResponse:
    """Archive a saved funnel (``archived=1``) or bring it back (``archived=0``; admins)."""
    funnel = _write_refused(request, funnel_id)
    if isinstance(funnel, HttpResponse):
        return funnel
    archived = request.POST.get("archived") != "0"
    funnel_archive(funnel=funnel, archived=archived, actor=request.user, now=utcnow())
    done = "Archived" if archived else "Brought back"
    messages.success(request, f"{done} the funnel {funnel.name}.")
    return redirect("funnels:detail", funnel.pk)


# --- exports ---------------------------------------------------------------------------


def _export(request: HttpRequest, funnel_id: int | None) -> Asked | HttpResponse:
    """The asked definition, or the page with its errors (422) / the 404 page."""
    now = utcnow()
    try:
        asked = _ask(request, funnel_id, now, export=True)
    except NotFound as exc:
        return error_response(request, exc)
    if asked.query is None:
        return _funnel_page(request, funnel_id, export=True)
    return asked


def _filename(asked: Asked, what: str) -> str:
    base = f"funnel-{asked.funnel.pk}" if asked.funnel is not None else "funnel"
    d = asked.query
    assert d is not None
    zone = timezone.get_current_timezone()
    span = f"{d.from_.astimezone(zone).date()}-{d.to.astimezone(zone).date()}"
    return f"{base}-{what}-{span}.csv"


def _seconds(v: float | None) -> Any:
    return round(v, 3) if v is not None else None


def _ratio(v: float | None) -> Any:
    return round(v, 6) if v is not None else None


@login_required
@require_GET
def steps_csv(request: HttpRequest, funnel_id: int | None = None) -> HttpResponseBase:
    """Each step: its count, conversions and median/p90 seconds from the previous step."""
    asked = _export(request, funnel_id)
    if isinstance(asked, HttpResponse):
        return asked
    assert asked.query is not None
    result = analytics_engine().funnel(asked.query)
    groups: list[tuple[str, list[StepResult]]] = [("", result.steps)]
    groups += [(_bucket_label(b.value, b.other), b.steps) for b in result.breakdown or []]
    return csv_response(
        filename=_filename(asked, "steps"),
        header=[
            "breakdown",
            "step",
            "name",
            "count",
            "conversion_from_first",
            "conversion_from_previous",
            "median_seconds_from_previous",
            "p90_seconds_from_previous",
        ],
        rows=(
            [
                bucket,
                s.index + 1,
                s.label,
                s.count,
                _ratio(s.conversion_from_first),
                _ratio(s.conversion_from_previous),
                _seconds(s.median_seconds_from_previous),
                _seconds(s.p90_seconds_from_previous),
            ]
            for bucket, steps in groups
            for s in steps
        ),
    )


@login_required
@require_GET
def trend_csv(request: HttpRequest, funnel_id: int | None = None) -> HttpResponseBase:
    """Each interval: the people who entered, converted, and the conversion."""
    asked = _export(request, funnel_id)
    if isinstance(asked, HttpResponse):
        return asked
    assert asked.query is not None
    interval = asked.range_form.cleaned_data["interval"]
    trend = _trend(analytics_engine(), asked.query, interval)
    return csv_response(
        filename=_filename(asked, f"trend-{interval}"),
        header=[f"{interval}_starting", "entered", "converted", "conversion"],
        rows=([p.start.isoformat(), p.entered, p.converted, _ratio(p.rate)] for p in trend),
    )


@login_required
@require_GET
def dropoffs_csv(request: HttpRequest, funnel_id: int | None = None) -> HttpResponseBase:
    """Every drop-off of ``?step=k``, newest first as on the page, streamed page by page
    from the engine."""
    asked = _export(request, funnel_id)
    if isinstance(asked, HttpResponse):
        return asked
    d = asked.query
    assert d is not None
    raw = request.GET.get("step", "")
    if not (raw.isdigit() and 2 <= int(raw) <= len(d.steps)):
        # The export is of one step, said: no guess (the page's is the largest loss).
        reason = f"2 to {len(d.steps)} (the funnel's steps)"
        return error_response(
            request, InvalidInput(f"step: {reason}", [FieldError("step", reason)])
        )
    step = int(raw) - 1
    engine = analytics_engine()
    now = utcnow()

    def rows() -> Iterator[list[Any]]:
        cursor = None
        while True:
            page = engine.dropoffs(
                d, step=step, limit=EXPORT_PAGE, now=now, newest_first=True, cursor=cursor
            )
            for p in _dropoff_rows(request, page):
                yield [
                    step + 1,
                    p.customer_id,
                    p.name,
                    p.last_event,
                    p.last_event_at.isoformat() if p.last_event_at else None,
                    p.window_open,
                ]
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    return csv_response(
        filename=_filename(asked, f"dropoffs-step-{step + 1}"),
        header=[
            "dropped_at_step",
            "customer_id",
            "name",
            "last_event",
            "last_event_at",
            "window_open",
        ],
        rows=rows(),
    )
