"""Who is looking and who is acting: the two parameters every selector and service takes.

A selector scoped to a viewer takes a ``Viewer``, one of exactly two things:

- a ``User``: they see what their agent profile allows (their teams' work; every team's for
  an admin or a Django superuser; nothing for a user with no agent profile);
- ``SYSTEM``: the product itself (the CLI, the sweeper and workers, an integration's API token,
  the demo seed, a service reading back what it has just written), which sees everything.

``None`` is not a viewer. It used to mean "sees everything" in most selectors and "sees
nothing" in others; a selector handed ``None`` now raises ``TypeError`` (``viewer_check``).
"Sees nothing" has no value of its own because nobody anonymous reaches a selector: every page
that reads through one is behind ``login_required`` and every API route behind a token. A
signed-in user with no team is what "sees nothing" looks like.

A write takes an ``actor``: the ``User`` who acted, or ``None`` when no person did (the system,
an integration token, a customer in the portal). ``None`` is what the event and audit rows
store for "no person" (their actor columns are nullable), and services skip the per-person
checks (team, role, authority) for it, as selectors do for ``SYSTEM``. ``actor_of`` turns
a viewer into the actor of the write it asks for.
"""

from __future__ import annotations

import enum
from typing import Final, TypeAlias

from django.contrib.auth.models import User


class System(enum.Enum):
    """The type of ``SYSTEM``: an enumeration of one, so a type checker can narrow it away."""

    SYSTEM = "system"

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM: Final = System.SYSTEM

Viewer: TypeAlias = User | System
"""Who a read is for: a signed-in user, or ``SYSTEM`` (sees everything)."""

Actor: TypeAlias = User | None
"""Who a write is by: the user, or ``None`` when no person acted."""


def viewer_check(viewer: object) -> Viewer:
    """``viewer`` itself, if it is one; ``TypeError`` for anything else (``None`` above all,
    which once meant "everything" to some selectors and "nothing" to others)."""
    if viewer is SYSTEM or (isinstance(viewer, User) and viewer.is_authenticated):
        return viewer
    raise TypeError(f"a viewer is a signed-in User or SYSTEM, not {viewer!r}")


def actor_of(viewer: Viewer) -> Actor:
    """The actor of a write asked for by ``viewer``: the user, or ``None`` for the system."""
    viewer = viewer_check(viewer)
    return None if viewer is SYSTEM else viewer
