"""`lastmile rollups`, `lastmile qa` and `lastmile digest`: the dashboard's rollups, the QA
first pass and the weekly email digest from the command line (the worker runs all three on
its own)."""

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


@click.group()
def digest() -> None:
    """The weekly email digest of the dashboard's figures (the worker sends it on Mondays)."""


@digest.command("send")
@click.option("--dry-run", is_flag=True, help="Say who would get this week's digest; send nothing.")
def digest_send_cmd(dry_run: bool) -> None:
    """Queue this week's digest for every subscriber who has not had it (once per week:
    running it again sends nothing more)."""
    from lastmile.cli import _django

    _django()
    from lastmile.core.clock import utcnow
    from lastmile.scorecards.digest import digest_send

    run = digest_send(now=utcnow(), dry_run=dry_run)
    verb = "would be sent to" if dry_run else "queued for"
    click.echo(f"week of {run.week:%Y-%m-%d}: digest {verb} {len(run.sent)}")
    for name in run.sent:
        click.echo(f"  {name}")
    if run.already:
        click.echo(f"already sent this week: {', '.join(run.already)}")
    for name, why in run.skipped:
        click.echo(f"skipped {name}: {why}")
