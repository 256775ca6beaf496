"""``lastmile integration``: messaging integrations (signed webhooks in and out)."""

from __future__ import annotations

import click


@click.group()
def integration() -> None:
    """Messaging integrations: providers posting to /hooks/in/<slug>, replies to their URL."""


@integration.command("create")
@click.argument("name")
@click.option(
    "--channel",
    type=click.Choice(["sms", "whatsapp", "chat"]),
    required=True,
    help="What the integration carries: a phone number identifies the sender on sms and "
    "whatsapp, the integration's own id on chat.",
)
@click.option("--url", default="", help="Where replies are POSTed, signed. Empty: inbound only.")
@click.option("--team", "team_slug", default=None, help="Team slug that gets the new cases.")
@click.option("--slug", default="", help="Path part of /hooks/in/<slug>; default: from NAME.")
def integration_create_cmd(
    name: str, channel: str, url: str, team_slug: str | None, slug: str
) -> None:
    """Create an integration; prints its signing secret alone on stdout (shown once)."""
    from lastmile.cli import _django, _fail

    _django()
    from lastmile.core.clock import utcnow
    from lastmile.core.errors import DomainError
    from lastmile.people.selectors import team_by_slug
    from lastmile.webhooks.services.integrations import integration_create

    try:
        team = team_by_slug(team_slug or None)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None
    try:
        row, secret = integration_create(
            name=name, channel=channel, url=url, team=team, slug=slug, now=utcnow()
        )
    except Exception as exc:
        _fail(exc)
    click.echo(secret)
    click.echo(f"integration {row.name}: POST signed messages to /hooks/in/{row.slug}", err=True)


@integration.command("list")
def integration_list_cmd() -> None:
    """Integrations: slug, channel, team, active, reply URL (never the secret)."""
    from lastmile.cli import _django

    _django()
    from lastmile.webhooks.models import Integration

    for row in Integration.objects.select_related("team"):
        team = row.team.slug if row.team else "-"
        state = "active" if row.active else "inactive"
        click.echo(f"{row.slug}\t{row.channel}\t{team}\t{state}\t{row.url or '-'}")
