"""Journey templates as data: a JSON or YAML document in, a checked spec out, and back.

The same checks serve the API and the admin. Every problem is reported with its path
(``steps[2].depends_on``) and a reason a person can act on (``unknown step "kyc2"``,
``cycle a → b → a``); a definition with any problem writes nothing.

```yaml
name: Open a current account
slug: open-current-account
steps:
  - key: kyc
    title: Verify identity and address
    team: back
    sla_minutes: 480
  - key: create_account
    title: Create the account
    team: back
    depends_on: [kyc]
  - key: upload_id
    title: Upload a photo ID
    customer_action: upload        # the customer performs it (and sees it)
  - key: choose_slot
    title: Choose a visit slot
    customer_action: choose_slot   # among the windows the team offers on the step
  - key: visit
    title: Engineer visit
    depends_on: [choose_slot]
    due_by_slot: choose_slot       # due at the end of the window the customer chose
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

import yaml
from django.utils.text import slugify

from lastmile.core.errors import FieldError, InvalidInput
from lastmile.journeys import dag
from lastmile.journeys.models import CustomerAction, JourneyTemplate

MAX_STEPS = 50
MAX_SLA_MINUTES = 525_600  # a year
KEY_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,49}")
TOP_FIELDS = ("name", "slug", "description", "active", "steps")
STEP_FIELDS = (
    "key",
    "title",
    "team",
    "sla_minutes",
    "depends_on",
    "customer_visible",
    "customer_performs",
    "customer_action",
    "instructions",
    "due_by_slot",
)


@dataclass
class StepSpec:
    key: str
    title: str
    team: Any  # people.Team or None (the case's team)
    sla_minutes: int | None
    depends_on: list[str]
    customer_visible: bool
    customer_performs: bool
    customer_action: str
    instructions: str
    due_by_slot: str = ""


@dataclass
class TemplateSpec:
    name: str
    slug: str
    description: str
    active: bool
    steps: list[StepSpec] = field(default_factory=list)

    @property
    def graph(self) -> dict[str, list[str]]:
        return {s.key: s.depends_on for s in self.steps}

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "slug": self.slug,
            "description": self.description,
            "active": self.active,
            "steps": [
                {
                    "key": s.key,
                    "title": s.title,
                    "team": s.team.slug if s.team is not None else None,
                    "sla_minutes": s.sla_minutes,
                    "depends_on": list(s.depends_on),
                    "customer_visible": s.customer_visible,
                    "customer_performs": s.customer_performs,
                    "customer_action": s.customer_action,
                    "instructions": s.instructions,
                    "due_by_slot": s.due_by_slot or None,
                }
                for s in self.steps
            ],
        }


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, path: str, reason: str) -> None:
        self.items.append(FieldError(path, reason))

    def raise_if_any(self) -> None:
        if self.items:
            first = self.items[0]
            more = f" (and {len(self.items) - 1} more)" if len(self.items) > 1 else ""
            raise InvalidInput(f"{first.field}: {first.reason}{more}", self.items)


def _text(
    errors: _Errors, data: Mapping[str, Any], name: str, path: str, *, limit: int, required: bool
) -> str:
    value = data.get(name)
    if value is None:
        if required:
            errors.add(path, "required")
        return ""
    if not isinstance(value, str):
        errors.add(path, "must be a string")
        return ""
    value = value.strip()
    if not _storable(value):
        errors.add(path, "contains a NUL character or a lone surrogate")
        return ""
    if required and not value:
        errors.add(path, "must not be empty")
    elif len(value) > limit:
        errors.add(path, f"at most {limit} characters")
    return value


def _storable(value: str) -> bool:
    """Text every database can store: no NUL, no lone surrogate (YAML can spell both)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _flag(errors: _Errors, data: Mapping[str, Any], name: str, path: str) -> bool | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        errors.add(path, "must be true or false")
        return None
    return value


def _unknown(errors: _Errors, data: Mapping[str, Any], allowed: tuple[str, ...], at: str) -> None:
    for k in data:
        if k not in allowed:
            plain = isinstance(k, str) and k.isidentifier()
            name = f".{k}" if plain else f"[{str(k)[:40]!r}]"
            where = (at + name) if at or not plain else str(k)
            errors.add(where, f"unknown field; expected one of {', '.join(allowed)}")


def template_parse(definition: Any, *, teams: Mapping[str, Any]) -> TemplateSpec:
    """A checked spec from a definition; InvalidInput listing every problem otherwise.

    ``teams`` maps slug → Team for the teams steps may name.
    """
    errors = _Errors()
    if not isinstance(definition, Mapping):
        errors.add("body", "a template is an object with name and steps")
        errors.raise_if_any()
    _unknown(errors, definition, TOP_FIELDS, "")
    name = _text(errors, definition, "name", "name", limit=200, required=True)
    slug_in = definition.get("slug")
    slug = ""
    if slug_in is None:
        slug = slugify(name)[:50].strip("-")
        if name and not SLUG_RE.fullmatch(slug):
            errors.add("slug", "cannot be made from the name; give one (a-z, 0-9, -)")
    elif not isinstance(slug_in, str) or not SLUG_RE.fullmatch(slug_in):
        errors.add("slug", "1 to 50 of a-z, 0-9 and -, starting with a letter or digit")
    else:
        slug = slug_in
    description = _text(
        errors, definition, "description", "description", limit=5000, required=False
    )
    active = _flag(errors, definition, "active", "active")
    spec = TemplateSpec(
        name=name, slug=slug, description=description, active=True if active is None else active
    )
    raw_steps = definition.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        errors.add("steps", "a list of at least one step")
        errors.raise_if_any()
    if len(raw_steps) > MAX_STEPS:
        errors.add("steps", f"at most {MAX_STEPS} steps")
        errors.raise_if_any()
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_steps):
        at = f"steps[{i}]"
        if not isinstance(raw, Mapping):
            errors.add(at, "a step is an object with key and title")
            continue
        _unknown(errors, raw, STEP_FIELDS, at)
        key = raw.get("key")
        if not isinstance(key, str) or not KEY_RE.fullmatch(key):
            errors.add(f"{at}.key", "1 to 50 of a-z, 0-9, _ and -, starting with a letter or digit")
            key = f"#{i}"  # still check the rest of the step
        elif key in seen:
            errors.add(f"{at}.key", f'duplicate key "{key}" (also steps[{seen[key]}])')
        else:
            seen[key] = i
        title = _text(errors, raw, "title", f"{at}.title", limit=200, required=True)
        team = None
        team_slug = raw.get("team")
        if team_slug is not None:
            if not isinstance(team_slug, str):
                errors.add(f"{at}.team", "a team's slug")
            elif team_slug not in teams:
                errors.add(f"{at}.team", f'no team "{team_slug}"')
            else:
                team = teams[team_slug]
        sla = raw.get("sla_minutes")
        if sla is not None and (
            isinstance(sla, bool) or not isinstance(sla, int) or not 1 <= sla <= MAX_SLA_MINUTES
        ):
            errors.add(f"{at}.sla_minutes", f"whole minutes, 1 to {MAX_SLA_MINUTES}, or null")
            sla = None
        deps_in = raw.get("depends_on", [])
        if isinstance(deps_in, str):
            deps_in = [deps_in]
        deps: list[str] = []
        if deps_in is None:
            deps_in = []
        if not isinstance(deps_in, list) or not all(isinstance(d, str) for d in deps_in):
            errors.add(f"{at}.depends_on", "a list of step keys")
        else:
            for d in deps_in:
                if d not in deps:
                    deps.append(d)
        action = raw.get("customer_action")
        if action is None:
            action = CustomerAction.NONE
        elif action not in CustomerAction.values:
            errors.add(f"{at}.customer_action", f"one of {', '.join(CustomerAction.values)}")
            action = CustomerAction.NONE
        performs = _flag(errors, raw, "customer_performs", f"{at}.customer_performs")
        if performs is None:
            performs = action != CustomerAction.NONE
        elif performs and action == CustomerAction.NONE:
            errors.add(
                f"{at}.customer_action",
                "say what the customer does: upload, choose_slot or confirm",
            )
        elif not performs and action != CustomerAction.NONE:
            errors.add(
                f"{at}.customer_performs",
                f"a step whose customer_action is {action} is performed by the customer",
            )
        visible = _flag(errors, raw, "customer_visible", f"{at}.customer_visible")
        if visible is None:
            visible = bool(performs)
        elif performs and not visible:
            errors.add(f"{at}.customer_visible", "the customer must see a step they perform")
        instructions = _text(
            errors, raw, "instructions", f"{at}.instructions", limit=5000, required=False
        )
        due_by_slot = raw.get("due_by_slot")
        if due_by_slot is not None and not isinstance(due_by_slot, str):
            errors.add(f"{at}.due_by_slot", "the key of a choose_slot step")
            due_by_slot = None
        elif due_by_slot and sla is not None:
            errors.add(f"{at}.due_by_slot", "either sla_minutes or due_by_slot, not both")
        spec.steps.append(
            StepSpec(
                key=key,
                title=title,
                team=team,
                sla_minutes=sla,
                depends_on=deps,
                customer_visible=visible,
                customer_performs=bool(performs),
                customer_action=str(action),
                instructions=instructions,
                due_by_slot=due_by_slot or "",
            )
        )
    index = {s.key: i for i, s in enumerate(spec.steps)}
    for i, s in enumerate(spec.steps):
        for d in s.depends_on:
            if d not in index:
                errors.add(f"steps[{i}].depends_on", f'unknown step "{d}"')
    cycle = dag.find_cycle(spec.graph)
    if cycle is not None:
        # Reported on the step whose dependency closes the loop.
        errors.add(f"steps[{index[cycle[-2]]}].depends_on", dag.describe_cycle(cycle))
    else:
        _check_due_by_slot(errors, spec, index)
    errors.raise_if_any()
    return spec


def _before(graph: Mapping[str, list[str]], key: str) -> set[str]:
    """Every step ``key`` waits for, directly or through others (the graph has no cycle)."""
    seen: set[str] = set()
    todo = list(graph.get(key, []))
    while todo:
        d = todo.pop()
        if d not in seen:
            seen.add(d)
            todo.extend(graph.get(d, []))
    return seen


def _check_due_by_slot(errors: _Errors, spec: TemplateSpec, index: Mapping[str, int]) -> None:
    """A step due at the end of a chosen window names a choose_slot step it waits for, so
    the window is chosen before it opens."""
    for i, s in enumerate(spec.steps):
        if not s.due_by_slot:
            continue
        at = f"steps[{i}].due_by_slot"
        slot = spec.steps[index[s.due_by_slot]] if s.due_by_slot in index else None
        if slot is None:
            errors.add(at, f'unknown step "{s.due_by_slot}"')
        elif slot.customer_action != CustomerAction.CHOOSE_SLOT:
            errors.add(at, f'step "{slot.key}" is not a choose_slot step')
        elif slot.key not in _before(spec.graph, s.key):
            errors.add(at, f'the step must wait for "{slot.key}" (depends_on)')


WINDOW_LINE = re.compile(
    r"(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2})\s*(?:-|–|to)\s*(\d{1,2}:\d{2})", re.IGNORECASE
)


def windows_parse(text: str, *, zone: tzinfo) -> list[tuple[datetime, datetime]]:
    """Windows an agent types, one a line, "2026-12-09 10:00-12:00", read in ``zone`` and
    returned as aware UTC pairs; InvalidInput naming each line that is not one."""
    errors = _Errors()
    pairs = []
    lines = [line.strip() for line in (text or "").splitlines()]
    for n, line in enumerate(lines, start=1):
        if not line:
            continue
        match = WINDOW_LINE.fullmatch(line)
        try:
            if match is None:
                raise ValueError
            day, start, end = match.groups()
            a = datetime.fromisoformat(f"{day}T{start.zfill(5)}").replace(tzinfo=zone)
            b = datetime.fromisoformat(f"{day}T{end.zfill(5)}").replace(tzinfo=zone)
            pairs.append((a.astimezone(UTC), b.astimezone(UTC)))
        except (ValueError, OverflowError):
            errors.add(f"windows.line {n}", f"{line[:40]!r}: write 2026-12-09 10:00-12:00")
    if not pairs and not errors.items:
        errors.add("windows", "write one window a line, e.g. 2026-12-09 10:00-12:00")
    errors.raise_if_any()
    return pairs


def template_export(template: JourneyTemplate) -> dict[str, Any]:
    """The template as the same document ``template_parse`` reads."""
    return {
        "name": template.name,
        "slug": template.slug,
        "description": template.description,
        "active": template.active,
        "steps": [
            {
                "key": s.key,
                "title": s.title,
                "team": s.team.slug if s.team else None,
                "sla_minutes": s.sla_minutes,
                "depends_on": list(s.depends_on or []),
                "customer_visible": s.customer_visible,
                "customer_performs": s.customer_performs,
                "customer_action": s.customer_action,
                "instructions": s.instructions,
                "due_by_slot": s.due_by_slot or None,
            }
            for s in template.steps.select_related("team").order_by("position", "id")
        ],
    }


def to_yaml(document: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True, width=100)


def from_yaml(text: str) -> Any:
    """A YAML document, refusing anchors and aliases.

    Aliases let a few bytes expand into a huge structure ("billion laughs"); a template
    never needs them.
    """
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise InvalidInput(
                    "YAML aliases are not accepted",
                    [FieldError("body", "write the template out without anchors and aliases")],
                )
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "malformed"
        raise InvalidInput(
            f"not valid YAML{where}: {problem}", [FieldError("body", f"not valid YAML{where}")]
        ) from None
