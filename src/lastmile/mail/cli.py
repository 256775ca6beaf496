"""``lastmile smtpd`` (the SMTP receiver) and ``lastmile mail …`` (mailboxes, IMAP polling)."""

from __future__ import annotations

import os

import click


@click.command()
@click.option(
    "--host",
    default=None,
    help="Address to bind.  [default: LASTMILE_SMTP_HOST or 127.0.0.1]",
)
@click.option(
    "--port",
    type=int,
    default=None,
    help="Port to bind.  [default: LASTMILE_SMTP_PORT or 2525]",
)
def smtpd(host: str | None, port: int | None) -> None:
    """Receive email by SMTP for the configured addresses (Ctrl-C stops it)."""
    from lastmile.cli import _django

    _django()
    from lastmile.mail import conf
    from lastmile.mail.smtpd import smtpd_run

    host = host or conf.smtp_host()
    port = port if port is not None else conf.smtp_port()
    click.echo(f"lastmile smtpd: receiving mail on {host}:{port}", err=True)
    smtpd_run(host=host, port=port)


@click.group()
def mail() -> None:
    """Email in and out: mailboxes (accepted addresses) and IMAP polling."""


@mail.command("mailbox")
@click.argument("address")
@click.option("--team", "team_slug", required=True, help="Team slug new threads go to.")
@click.option("--name", default="", help="Name shown to customers.")
@click.option("--inactive", is_flag=True, help="Refuse mail to this address.")
def mailbox_cmd(address: str, team_slug: str, name: str, inactive: bool) -> None:
    """Accept mail for ADDRESS and route new conversations to a team (idempotent)."""
    from lastmile.cli import _django, _fail

    _django()
    from lastmile.core.errors import DomainError
    from lastmile.mail.services import mailbox_ensure
    from lastmile.people.selectors import team_by_slug

    try:
        team = team_by_slug(team_slug)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None
    try:
        box = mailbox_ensure(address=address, team=team, name=name, active=not inactive)
    except Exception as exc:
        _fail(exc)
    click.echo(f"{box.address} -> {team.slug}{'' if box.active else ' (inactive)'}")


@mail.command("poll-imap")
@click.option("--host", required=True)
@click.option("--port", type=int, default=None, help="[default: 993, or 143 with --no-ssl]")
@click.option("--user", required=True)
@click.option(
    "--password-env",
    default="LASTMILE_IMAP_PASSWORD",
    show_default=True,
    help="Environment variable holding the password (never on the command line).",
)
@click.option("--folder", default="INBOX", show_default=True)
@click.option("--address", required=True, help="The lastmile address this mailbox receives for.")
@click.option("--ssl/--no-ssl", default=True, show_default=True)
@click.option("--limit", type=int, default=200, show_default=True)
def poll_imap_cmd(
    host: str,
    port: int | None,
    user: str,
    password_env: str,
    folder: str,
    address: str,
    ssl: bool,
    limit: int,
) -> None:
    """Fetch unseen messages once (run it from cron or a timer)."""
    from lastmile.cli import _django

    _django()
    from lastmile.mail.imap import imap_poll
    from lastmile.mail.services import mail_accepts

    password = os.environ.get(password_env)
    if password is None:
        raise click.ClickException(f"set {password_env} to the IMAP password")
    if not mail_accepts(address):
        raise click.ClickException(
            f"lastmile accepts no mail for {address}: add it with 'lastmile mail mailbox'"
        )
    result = imap_poll(
        host=host,
        port=port or (993 if ssl else 143),
        user=user,
        password=password,
        address=address,
        folder=folder,
        ssl=ssl,
        limit=limit,
    )
    for line in result.refused:
        click.echo(f"refused {line}", err=True)
    click.echo(
        f"stored {result.stored}, already had {result.repeated}, refused {len(result.refused)}"
    )


def register(main: click.Group) -> None:
    """Add ``smtpd`` and ``mail`` to the ``lastmile`` command."""
    main.add_command(smtpd)
    main.add_command(mail)
