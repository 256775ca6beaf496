"""This app's part of the seeded demo (called by lastmile.demo.seed after the core stories)."""

from typing import Any


def seed(seeder: Any) -> list[str]:
    """Seed this app's demo data; return report lines. Not written yet."""
    return []
