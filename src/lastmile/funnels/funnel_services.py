"""Saved funnels: every write, each checked against ``FunnelDefinition``.

(``services.py`` is the analytics copy's; saved funnels are apart so the two can change
independently.)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from pydantic import ValidationError

from lastmile.core.audit import audited_save
from lastmile.core.errors import Conflict, ErrorCode, FieldError, InvalidInput, PermissionDenied
from lastmile.funnels.definitions import FunnelDefinition
from lastmile.funnels.models import Funnel
from lastmile.people.models import Team
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import Actor

# What a saved definition holds: a FunnelDefinition without its date range.
SAVED_KEYS = ("mode", "window_seconds", "steps", "exclusions")
# Stands in for the range while a saved definition is checked: any valid range will do,
# the range is chosen when the funnel is asked.
_RANGE = {"from": datetime(2000, 1, 1, tzinfo=UTC), "to": datetime(2000, 1, 2, tzinfo=UTC)}


def field_name(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """A pydantic location as the API names fields: ``steps[0].where[1].value``, after
    ``prefix`` (``definition``) when given."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = "from" if part == "from_" else str(part)
            out = f"{out}.{name}" if out else name
    return out or "body"


def definition_errors(exc: ValidationError, *, prefix: str = "") -> list[FieldError]:
    """Each of pydantic's errors as a ``FieldError`` naming its field.

    A model validator's message may begin with the field it is about (``"value: gt needs
    a number"``, ``"event: give exactly one of..."``): that name joins the location.
    """
    out = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        reason = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        head, sep, rest = reason.partition(": ")
        if sep and head.isidentifier() and " " not in head:
            loc, reason = (*loc, head), rest
        if err.get("type") == "extra_forbidden":
            reason = "not a field of a funnel definition"
        out.append(FieldError(field_name(loc, prefix), reason))
    return out


def _invalid(errors: list[FieldError]) -> InvalidInput:
    first = errors[0] if errors else FieldError("definition", "invalid")
    return InvalidInput(f"{first.field}: {first.reason}", errors)


def definition_build(
    *, definition: Mapping[str, Any], from_: datetime, to: datetime, prefix: str = ""
) -> FunnelDefinition:
    """A saved (or ad hoc) definition over the range ``from_``..``to``, checked.

    ``InvalidInput`` (422) names each bad field, under ``prefix`` (``definition``) if given.
    """
    try:
        return FunnelDefinition.model_validate({**definition, "from": from_, "to": to})
    except ValidationError as exc:
        raise _invalid(definition_errors(exc, prefix=prefix)) from None


def definition_check(*, definition: Any, prefix: str = "") -> dict[str, Any]:
    """The definition to store: checked by ``FunnelDefinition`` (with a stand-in range),
    normalised (defaults left out, steps and exclusions as the engine reads them).

    A definition with ``from``, ``to`` or ``breakdown`` is refused: a saved funnel is
    asked over the range (and broken down as) chosen each time.
    """
    if not isinstance(definition, Mapping):
        raise _invalid([FieldError(prefix or "definition", "must be an object")])
    asked = [k for k in ("from", "to", "from_", "breakdown") if k in definition]
    if asked:
        raise _invalid(
            [
                FieldError(field_name((k,), prefix), "chosen each time the funnel is asked")
                for k in asked
            ]
        )
    checked = definition_build(
        definition=definition, from_=_RANGE["from"], to=_RANGE["to"], prefix=prefix
    )
    dumped = checked.model_dump(mode="json", exclude_defaults=True, exclude={"from_", "to"})
    return {
        "mode": checked.mode,
        "window_seconds": checked.window_seconds,
        "steps": dumped["steps"],
        "exclusions": dumped.get("exclusions", []),
    }


def _save(funnel: Funnel, *, actor: Actor, now: datetime) -> None:
    """Save with its audit row; a name another writer took since ``_check_name`` looked
    is the same 409, not a database error."""
    try:
        with transaction.atomic():
            audited_save(
                funnel, actor=actor, now=now, actor_label="system" if actor is None else ""
            )
    except IntegrityError:
        if not Funnel.objects.filter(name=funnel.name).exclude(pk=funnel.pk).exists():
            raise
        raise Conflict(
            f"name {funnel.name!r} is taken",
            code=ErrorCode.DUPLICATE,
            errors=[FieldError("name", "taken")],
        ) from None


def may_write_funnels(actor: Actor) -> bool:
    """Saved funnels are the whole business's: admins and integrations write them, every
    agent reads them."""
    return actor is None or visible_team_ids(actor) is None


def _check_writer(actor: Actor) -> None:
    if not may_write_funnels(actor):
        raise PermissionDenied("only admins may save, change or archive funnels")


def _check_name(name: str, *, funnel: Funnel | None = None) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("name: 1 to 200 characters", [FieldError("name", "1 to 200 characters")])
    clash = Funnel.objects.filter(name=name)
    if funnel is not None:
        clash = clash.exclude(pk=funnel.pk)
    taken = clash.first()
    if taken is not None:
        where = " (archived)" if taken.archived else ""
        raise Conflict(
            f"name {name!r} is taken by funnel {taken.pk}{where}",
            code=ErrorCode.DUPLICATE,
            errors=[FieldError("name", "taken")],
        )
    return name


@transaction.atomic
def funnel_create(
    *,
    name: str,
    definition: Any,
    description: str = "",
    team: Team | None = None,
    actor: Actor,
    now: datetime,
) -> Funnel:
    """Save a funnel (admins and integrations), its definition checked and normalised;
    the audit row is written in the same transaction."""
    _check_writer(actor)
    funnel = Funnel(
        name=_check_name(name),
        description=description,
        definition=definition_check(definition=definition),
        team=team,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    _save(funnel, actor=actor, now=now)
    return funnel


@transaction.atomic
def funnel_update(
    *,
    funnel: Funnel,
    name: str,
    definition: Any,
    description: str,
    team: Team | None,
    actor: Actor,
    now: datetime,
) -> Funnel:
    """Replace a funnel's name, description, definition and team (archived ones too); a
    change that changes nothing writes nothing."""
    _check_writer(actor)
    name = _check_name(name, funnel=funnel)
    checked = definition_check(definition=definition)  # both checked before any change
    funnel.name, funnel.description, funnel.definition = name, description, checked
    funnel.team = team
    stored = Funnel.objects.filter(pk=funnel.pk).values(*_EDITABLE).first() or {}
    if any(stored.get(k) != getattr(funnel, k) for k in _EDITABLE):
        funnel.updated_at = now
        _save(funnel, actor=actor, now=now)
    return funnel


_EDITABLE = ("name", "description", "definition", "team_id")


@transaction.atomic
def funnel_archive(*, funnel: Funnel, archived: bool = True, actor: Actor, now: datetime) -> Funnel:
    """Archive a funnel (the API's DELETE), or bring it back: it is kept, since recovery
    rules and links name it, and leaves the lists."""
    _check_writer(actor)
    stored = Funnel.objects.select_for_update().get(pk=funnel.pk)
    if stored.archived != archived:
        funnel.archived = archived
        funnel.updated_at = now
        audited_save(funnel, actor=actor, now=now, actor_label="system" if actor is None else "")
    else:
        funnel.archived = archived
    return funnel
