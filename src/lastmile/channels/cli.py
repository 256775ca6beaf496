"""``lastmile source``: event sources (the Segment-compatible API's write keys)."""

from __future__ import annotations

import click


@click.group()
def source() -> None:
    """Event sources: write keys for the Segment-compatible event API (/v1/...)."""


@source.command("create")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["segment"]),
    default="segment",
    show_default=True,
    help="The protocol the source speaks.",
)
def source_create_cmd(name: str, kind: str) -> None:
    """Create a source; prints its write key alone on stdout (shown once, stored hashed)."""
    from lastmile.cli import _django, _fail

    _django()
    from lastmile.channels.segment import source_create
    from lastmile.core.clock import utcnow

    try:
        _, key = source_create(name=name, kind=kind, now=utcnow())
    except Exception as exc:
        _fail(exc)
    click.echo(key)


@source.command("revoke")
@click.argument("name")
def source_revoke_cmd(name: str) -> None:
    """Revoke a source's write key: its clients get 401 from then on."""
    from lastmile.cli import _django

    _django()
    from lastmile.channels.models import Source
    from lastmile.channels.segment import source_revoke
    from lastmile.core.clock import utcnow

    row = Source.objects.filter(name=name).first()
    if row is None:
        raise click.ClickException(f"no source {name!r}")
    source_revoke(source=row, actor=None, actor_label="cli", now=utcnow())
    click.echo(f"revoked {name}", err=True)
