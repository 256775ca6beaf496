"""`lastmile portal`: customer portal links from the command line."""

from __future__ import annotations

from datetime import timedelta

import click


@click.group()
def portal() -> None:
    """The customer portal."""


@portal.command("link")
@click.argument("customer_id", type=int)
@click.option("--hours", default=72, show_default=True, help="How long the link stays valid.")
@click.option(
    "--send/--no-send",
    default=False,
    show_default=True,
    help="Also email the link to the customer through the outbox.",
)
def portal_link_cmd(customer_id: int, hours: int, send: bool) -> None:
    """Print a one-time sign-in link to CUSTOMER_ID's portal (the URL alone on stdout)."""
    from lastmile.cli import _django, _fail

    _django()
    from django.conf import settings

    from lastmile.core.clock import utcnow
    from lastmile.core.errors import DomainError
    from lastmile.customers.models import Customer
    from lastmile.portal.services import portal_link_issue

    if hours < 1 or hours > 24 * 30:
        raise click.BadParameter("between 1 and 720 hours", param_hint="--hours")
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise click.ClickException(f"no customer with id {customer_id}")
    try:
        issued = portal_link_issue(
            customer=customer, now=utcnow(), ttl=timedelta(hours=hours), send=send
        )
    except DomainError as exc:
        _fail(exc)
    click.echo(settings.LASTMILE_PUBLIC_URL.rstrip("/") + issued.path)
