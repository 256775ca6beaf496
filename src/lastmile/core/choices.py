"""Statuses with their label and colour in one place (as NetBox's ``ChoiceSet``).

A model keeps its ``TextChoices`` (the values and labels the database field knows); a
``ChoiceSet`` beside it adds the colour each value is shown in, and may add derived states
that are not stored (the outbox's "Sending" and "Held" are pending messages). Templates
render ``badge.label`` and the colour's class instead of deciding either themselves.

Colours are tones of the stylesheets' palette (``--ok``, ``--at-risk``, ``--breached``,
``--grey``, ``--primary``): a class, never an inline style.

Core is the bottom of the app order: this module imports no app.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from django.db import models

TONES = frozenset({"primary", "ok", "at-risk", "breached", "grey"})


class Badge(NamedTuple):
    """What a page shows for a status: its value (the ``data-*`` attribute), label, colour."""

    value: str
    label: str
    colour: str


class ChoiceSet:
    """The label and colour of every value of ``choices``, plus derived states.

    Constructing one with a value of ``choices`` left without a colour, or with a colour
    outside ``TONES``, raises at import: a new status cannot reach a page uncoloured.
    """

    def __init__(
        self,
        choices: type[models.TextChoices],
        *,
        colours: dict[str, str],
        derived: Iterable[Badge] = (),
    ) -> None:
        labels = {str(value): str(label) for value, label in choices.choices}
        missing = sorted(set(labels) - set(colours))
        unknown = sorted(set(colours) - set(labels))
        if missing or unknown:
            raise ValueError(
                f"{choices.__name__}: colours missing for {missing}, given for unknown {unknown}"
            )
        self.choices = choices
        self._badges: dict[str, Badge] = {
            value: Badge(value, label, colours[value]) for value, label in labels.items()
        }
        self._derived: dict[str, Badge] = {}
        for badge in derived:
            if badge.value in self._badges or badge.value in self._derived:
                raise ValueError(f"{choices.__name__}: derived state {badge.value!r} twice")
            self._derived[badge.value] = badge
        for badge in (*self._badges.values(), *self._derived.values()):
            if badge.colour not in TONES:
                raise ValueError(f"{choices.__name__}: {badge.value!r} colour {badge.colour!r}")

    def badge(self, value: str) -> Badge:
        """The stored value's badge; an unknown value shows as itself, in grey."""
        return self._badges.get(str(value)) or Badge(str(value), str(value), "grey")

    def derived(self, name: str) -> Badge:
        """A state that is not stored but decided from a row (``KeyError`` if undeclared)."""
        return self._derived[name]

    def label(self, value: str) -> str:
        return self.badge(value).label

    def colour(self, value: str) -> str:
        return self.badge(value).colour

    def __iter__(self) -> Iterator[Badge]:
        yield from self._badges.values()
        yield from self._derived.values()
