"""The funnel pages' forms: the date range a funnel is asked over, an ad hoc funnel, and
saving or editing a funnel.

The range and ad hoc forms are GET forms: a funnel's page is a link an agent can share, its
exports take the same query string, and nothing is written. Saving and editing are POST
forms (admins only, as ``funnel_services`` enforces). Each error is reported on the field it
is about, including the ones the funnel's own validation (``FunnelDefinition``) finds.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from pydantic import ValidationError

from lastmile.funnels.definitions import MAX_STEPS, MAX_WINDOW_SECONDS, MIN_STEPS, PROPERTY_NAME
from lastmile.funnels.models import Funnel
from lastmile.people.models import Team

DEFAULT_DAYS = 30
MAX_RANGE_DAYS = 366  # a year of days is the longest trend the chart draws one bar per day of
INTERVALS = [("day", "By day"), ("week", "By week")]
BREAKDOWNS = [
    ("", "Nothing"),
    ("property", "An event property"),
    ("source", "First-touch source"),
    ("channel", "First-touch channel"),
    ("team", "First-touch team"),
]
MODES = [
    ("ordered", "Ordered: other events may come between steps"),
    ("strict", "Strict: no other event between two steps"),
    ("unordered", "Unordered: every step inside the window, in any order"),
]
KINDS = ("page", "screen")  # step line prefixes; a line without one is a track event


def _day_start(d: date) -> datetime:
    return timezone.make_aware(datetime.combine(d, time.min), timezone.get_current_timezone())


def day_range_check(form: forms.Form, data: dict[str, Any], *, max_days: int) -> None:
    """A form's ``start`` and ``end`` days: the end not before the start, and at most
    ``max_days`` days in all (the error goes on ``end``)."""
    start, end = data.get("start"), data.get("end")
    if start and end:
        if end < start:
            form.add_error("end", "The last day comes before the first.")
        elif (end - start).days >= max_days:
            form.add_error("end", f"At most {max_days} days at once.")


class RangeForm(forms.Form):
    """The days a funnel is asked over (its first step's time inside them, both days whole,
    in the site's time zone), the trend's interval and an optional breakdown: a property of
    the entry event, or the person's first-touch source, channel or team."""

    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))
    interval = forms.ChoiceField(label="Trend", choices=INTERVALS)
    breakdown = forms.ChoiceField(label="Break down by", choices=BREAKDOWNS, required=False)
    property = forms.CharField(
        label="Property",
        required=False,
        max_length=200,
        help_text="For a property breakdown: a property of the entry event, e.g. plan.",
    )

    def __init__(self, data: Any = None, *, today: date, **kwargs: Any) -> None:
        defaults = {
            "start": (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
            "end": today.isoformat(),
            "interval": "day",
            "breakdown": "",
            "property": "",
        }
        given = {k: v for k, v in (data or {}).items() if k in defaults and v not in ("", None)}
        super().__init__({**defaults, **given}, **kwargs)

    def clean_property(self) -> str:
        value: str = self.cleaned_data["property"].strip()
        if value and not PROPERTY_NAME.match(value):
            raise forms.ValidationError("A property name, without a double quote or backslash.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        day_range_check(self, data, max_days=MAX_RANGE_DAYS)
        wants_property = data.get("breakdown") == "property"
        if wants_property and not data.get("property") and "property" not in self.errors:
            self.add_error("property", "Name the property to break down by.")
        return data

    def breakdown_asked(self) -> dict[str, str] | None:
        """The definition's ``breakdown``, or None."""
        by = self.cleaned_data.get("breakdown")
        if by == "property":
            return {"property": self.cleaned_data["property"]}
        if by in ("source", "channel", "team"):
            return {"first_touch": by}
        return None

    def bounds(self) -> tuple[datetime, datetime]:
        """``from`` and ``to`` of the definition: the first day's start to the last
        microsecond of the last day."""
        start, end = self.cleaned_data["start"], self.cleaned_data["end"]
        return _day_start(start), _day_start(end + timedelta(days=1)) - timedelta(microseconds=1)


# A step line's property filters, after ``|``: ``plan = pro``, ``value > 100``, ``coupon is set``.
FILTER = re.compile(r"^(?P<prop>.+?)\s*(?P<op>!=|=|~|>|<|\s+is\s+set$)\s*(?P<value>.*)$", re.I)
FILTER_OPS = {"=": "equals", "!=": "not_equals", "~": "contains", ">": "gt", "<": "lt"}


def _filter_value(text: str) -> str | bool | int | float:
    """A filter's value as the property's JSON would hold it: a number, true/false, or
    text (in double quotes to keep ``42`` or ``true`` a string)."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def step_parse(line: str) -> dict[str, Any]:
    """One ad hoc step line: ``[page:|screen:] name [| filter]...``; ValueError says why
    a filter cannot be read."""
    head, *filters = [part.strip() for part in line.split("|")]
    kind, sep, rest = head.partition(":")
    if sep and kind.strip().lower() in KINDS and rest.strip():
        step: dict[str, Any] = {kind.strip().lower(): rest.strip()}
    else:
        step = {"event": head}
    where = []
    for text in filters:
        m = FILTER.match(text)
        if m is None or not m["prop"].strip():
            raise ValueError(f"cannot read the filter {text!r}")
        if m["op"].strip().lower().startswith("is"):
            where.append({"property": m["prop"].strip(), "op": "is_set"})
        else:
            value = _filter_value(m["value"].strip())
            where.append({"property": m["prop"].strip(), "op": FILTER_OPS[m["op"]], "value": value})
    if where:
        step["where"] = where
    return step


def _filter_text(value: Any) -> str:
    """A filter's value as ``_filter_value`` reads it back: text that would read as a
    number or true/false (or that has spaces at its ends) in double quotes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"' if _filter_value(value) != value or value != value.strip() else value
    return json.dumps(value)


def step_line(step: dict[str, Any]) -> str | None:
    """The line ``step_parse`` reads as ``step`` (a saved definition's step), or None when
    no line says it: options a line has no words for (optional, per-step times) or names
    and values a line cannot hold (a ``|``)."""
    if set(step) - {"event", "page", "screen", "where"}:
        return None
    kind = next((k for k in ("event", "page", "screen") if k in step), None)
    if kind is None:
        return None
    parts = [str(step[kind]) if kind == "event" else f"{kind}: {step[kind]}"]
    symbols = {op: sym for sym, op in FILTER_OPS.items()}
    for f in step.get("where", []):
        if f.get("op") == "is_set":
            parts.append(f"{f['property']} is set")
        else:
            parts.append(f"{f['property']} {symbols[f['op']]} {_filter_text(f.get('value'))}")
    line = " | ".join(parts)
    try:
        return line if "\n" not in line and step_parse(line) == step else None
    except ValueError:
        return None


class StepsForm(forms.Form):
    """A funnel's steps as lines, its window and its order: the fields the ad hoc page and
    a saved funnel's edit page share."""

    steps = forms.CharField(
        label="Steps",
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "Product Added\nCheckout Started"}),
        help_text=(
            f"{MIN_STEPS} to {MAX_STEPS} lines, one step each: an event name, or page: or "
            "screen: and a name; filters after |, e.g. Order Completed | value > 100 | "
            "plan = pro (also !=, ~ for contains, < and is set)."
        ),
    )
    window_hours = forms.IntegerField(
        label="Window (hours)",
        min_value=1,
        max_value=MAX_WINDOW_SECONDS // 3600,
        initial=24,
        help_text="From the first step to the last.",
    )
    mode = forms.ChoiceField(label="Order", choices=MODES, initial="ordered")

    def clean_steps(self) -> list[dict[str, Any]]:
        lines = [ln.strip() for ln in self.cleaned_data["steps"].splitlines() if ln.strip()]
        if not MIN_STEPS <= len(lines) <= MAX_STEPS:
            raise forms.ValidationError(
                f"Give {MIN_STEPS} to {MAX_STEPS} steps, one a line ({len(lines)} given)."
            )
        steps = []
        for n, line in enumerate(lines, start=1):
            try:
                steps.append(step_parse(line))
            except ValueError as exc:
                raise forms.ValidationError(f"Step {n}: {exc}.") from None
        return steps

    def definition(self) -> dict[str, Any]:
        """The definition without its dates (as a saved funnel stores it)."""
        return {
            "mode": self.cleaned_data["mode"],
            "window_seconds": self.cleaned_data["window_hours"] * 3600,
            "steps": self.cleaned_data["steps"],
        }


class AdhocForm(StepsForm):
    """Steps to try without saving: one per line, ``page:`` or ``screen:`` before a page or
    screen name, otherwise a track event's name; property filters after ``|``."""

    def __init__(self, data: Any = None, **kwargs: Any) -> None:
        # A link that gives only the steps asks them with the defaults.
        if data is not None:
            given = {k: v for k, v in data.items() if k in ("steps", "window_hours", "mode")}
            data = {
                "window_hours": "24",
                "mode": "ordered",
                **{k: v for k, v in given.items() if v},
            }
        super().__init__(data, **kwargs)


class FunnelSaveForm(forms.Form):
    """What names a saved funnel: the ad hoc page saves its steps under these."""

    name = forms.CharField(label="Name", max_length=200)
    description = forms.CharField(
        label="Description",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the funnel measures, for the people who read it.",
    )
    team = forms.ModelChoiceField(
        label="Owning team",
        queryset=Team.objects.order_by("name"),
        required=False,
        empty_label="No team yet",
        help_text="The team that owns the funnel and the recovery of its drop-offs.",
    )


class FunnelEditForm(FunnelSaveForm, StepsForm):
    """A saved funnel's name, description, team and definition.

    The steps, window and order are fields only when the form can say the stored
    definition back as it is (``editable_definition``): per-step options, exclusions or a
    window of no whole hours would be lost, so such a funnel keeps its definition here and
    changes it in the admin or through the API.
    """

    def __init__(self, data: Any = None, *, funnel: Funnel, **kwargs: Any) -> None:
        lines = editable_definition(funnel.definition)
        initial = {
            "name": funnel.name,
            "description": funnel.description,
            "team": funnel.team_id,
        }
        if lines is not None:
            initial.update(
                steps="\n".join(lines),
                window_hours=funnel.definition["window_seconds"] // 3600,
                mode=funnel.definition.get("mode", "ordered"),
            )
        super().__init__(data, initial=initial, **kwargs)
        self.funnel = funnel
        self.edits_definition = lines is not None
        if lines is None:
            for name in ("steps", "window_hours", "mode"):
                del self.fields[name]

    def definition(self) -> dict[str, Any]:
        """The definition to store: the form's, or the stored one when it has no fields."""
        return super().definition() if self.edits_definition else dict(self.funnel.definition)


def editable_definition(definition: dict[str, Any]) -> list[str] | None:
    """A saved definition's step lines, or None when the edit form cannot hold all of it
    (see ``FunnelEditForm``)."""
    window = definition.get("window_seconds")
    if definition.get("exclusions") or not isinstance(window, int) or window % 3600:
        return None
    lines = [step_line(step) for step in definition.get("steps", [])]
    return None if any(line is None for line in lines) else [ln for ln in lines if ln]


# Where a service's field errors are shown: ``definition.steps[2].where[0].value`` on steps.
SERVICE_FIELDS = {"name": "name", "description": "description", "team": "team"}


def service_field(field: str) -> str | None:
    """The form field a service's ``FieldError`` names, or None (not a field of the form)."""
    if field in SERVICE_FIELDS:
        return SERVICE_FIELDS[field]
    head = field.removeprefix("definition.").split(".")[0].split("[")[0]
    return ERROR_FIELDS.get(head) if head in ("steps", "window_seconds", "mode") else None


# Where a definition's validation errors are shown: its field's form field.
ERROR_FIELDS = {
    "from": "start",
    "to": "end",
    "window_seconds": "window_hours",
    "mode": "mode",
    "steps": "steps",
    "breakdown": "property",
}


def definition_errors(exc: ValidationError) -> dict[str, list[str]]:
    """A definition's validation errors by the form field they belong on (``None``: not a
    field of the forms, e.g. a saved definition's exclusions)."""
    found: dict[str, list[str]] = {}
    for e in exc.errors():
        loc = [str(p) for p in e["loc"]]
        field = ERROR_FIELDS.get(loc[0], "__all__") if loc else "__all__"
        where = ""
        if loc and loc[0] == "steps" and len(loc) > 1 and loc[1].isdigit():
            where = f"step {int(loc[1]) + 1}: "
        message = str(e["msg"]).removeprefix("Value error, ")
        found.setdefault(field, []).append(where + message)
    return found
