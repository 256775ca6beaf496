"""`lastmile rollups` and `lastmile qa`: the dashboard's rollups and the QA first pass from the
command line (the worker runs both on its own)."""

from __future__ import annotations

import click


@click.group()
def rollups() -> None:
    """The dashboard's weekly team rollups (the worker keeps them current)."""


@rollups.command("rebuild")
@click.option("--weeks", type=click.IntRange(1, 520), default=13, show_default=True)
def rollups_rebuild_cmd(weeks: int) -> None:
    """Recompute every team's rollups for the last WEEKS weeks, the one in progress included."""
    from lastmile.cli import _django

    _django()
    from lastmile.core.clock import utcnow
    from lastmile.scorecards.rollups import rollups_rebuild

    click.echo(f"{rollups_rebuild(weeks=weeks, now=utcnow())} rollup rows written")


@click.group()
def qa() -> None:
    """QA reviews of closed conversations."""


@qa.command("autoreview")
@click.option("--limit", type=click.IntRange(1, 100_000), default=500, show_default=True)
def qa_autoreview_cmd(limit: int) -> None:
    """Run the automatic first pass now over closed cases not yet reviewed (at most LIMIT)."""
    from lastmile.cli import _django

    _django()
    from lastmile.core.clock import utcnow
    from lastmile.scorecards.services import qa_autoreview_pending

    click.echo(f"{qa_autoreview_pending(now=utcnow(), limit=limit)} conversations reviewed")
