"""Data builders for the macros tests."""

from __future__ import annotations

from datetime import UTC, datetime

import factory

from lastmile.macros.models import Macro


class MacroFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Macro

    name = factory.Sequence(lambda n: f"Macro {n}")
    body = "Hi {{customer.first_name}}"
    updated_at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
