"""``manage.py seed_demo`` (``lastmile seed-demo``): the demo data, once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lastmile.core.clock import utcnow
from lastmile.demo.seed import seed_demo


class Command(BaseCommand):
    help = "Fill the database with deterministic demo data (does nothing when it is there already)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument(
            "--customers", type=int, default=300, help="Background customers (default 300)."
        )

    def handle(self, *args: Any, seed: int, customers: int, **options: Any) -> None:
        if customers < 0:
            raise CommandError("--customers must be 0 or more")
        now = utcnow().replace(second=0, microsecond=0)
        seed_demo(seed=seed, customers=customers, now=now, out=self.stdout.write)
