"""The ``lastmile`` command: serve, worker, migrate, seed-demo, createagent, token, sweep,
analytics-copy, backup, restore."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lastmile.settings")
    import django

    django.setup()


def _fail(exc: Exception) -> None:
    from lastmile.core.errors import DomainError

    if isinstance(exc, DomainError):
        reasons = "; ".join(f"{e.field}: {e.reason}" for e in exc.errors)
        raise click.ClickException(f"{exc.detail}" + (f" ({reasons})" if reasons else "")) from None
    raise exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """lastmile: one customer timeline, every obligation an open loop.

    Configuration comes from LASTMILE_* environment variables (see the README).
    """


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    envvar="LASTMILE_PORT",
    default=8000,
    show_default="LASTMILE_PORT or 8000",
    help="Port to bind.",
)
@click.option(
    "--workers", type=int, default=2, show_default=True, help="gunicorn worker processes."
)
@click.option("--threads", type=int, default=4, show_default=True, help="Threads per worker.")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the web app and API with gunicorn (static files via whitenoise)."""
    _django()
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "lastmile.wsgi:application",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--access-logfile",
        "-",
        "--graceful-timeout",
        "5",
        *_control_socket_args(port),
    ]
    os.execv(sys.executable, args)


# The longest path a Unix socket may have on Linux (``sun_path`` is 108 bytes with its NUL).
UNIX_PATH_MAX = 107


def _control_socket_args(port: int) -> list[str]:
    """gunicorn's control socket (``gunicornc``), one per ``lastmile serve``.

    From gunicorn 25.1 the master listens on a control socket at a default path shared by
    every gunicorn of the user (27: ``~/.gunicorn/gunicorn.ctl``): a second ``lastmile
    serve`` on the machine took it over from the first, and the first to stop removed it. Each process has
    its own under ``LASTMILE_VAR_DIR`` (``gunicorn-<port>.ctl``: ``gunicornc -s
    var/gunicorn-8000.ctl``); a var dir too deep for a socket's path turns it off. An older
    gunicorn has none, and is given no option."""
    from django.conf import settings
    from gunicorn.config import KNOWN_SETTINGS

    if "control_socket" not in {s.name for s in KNOWN_SETTINGS}:
        return []
    path = Path(settings.VAR_DIR) / f"gunicorn-{port}.ctl"
    if len(os.fsencode(path)) > UNIX_PATH_MAX:
        return ["--no-control-socket"]
    path.parent.mkdir(parents=True, exist_ok=True)
    return ["--control-socket", str(path)]


@main.command()
@click.option("--workers", type=int, default=2, show_default=True, help="Worker threads.")
def worker(workers: int) -> None:
    """Run background jobs and the periodic sweeper (huey consumer)."""
    _django()
    from django.conf import settings
    from django.core.management import call_command

    click.echo(
        f"lastmile worker: {workers} threads on {settings.QUEUE_URL}; sweeping loops every minute",
        err=True,
    )
    call_command("run_huey", workers=workers, worker_type="thread", periodic=True)


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    _django()
    from django.core.management import call_command

    call_command("migrate", interactive=False)


@main.command("seed-demo")
@click.option(
    "--seed",
    type=int,
    default=42,
    show_default=True,
    help="Random seed (the data is deterministic).",
)
@click.option("--customers", type=int, default=300, show_default=True, help="How many customers.")
def seed_demo(seed: int, customers: int) -> None:
    """Fill the database with the demo (skipped when it is there already)."""
    _django()
    from django.core.management import call_command

    call_command("seed_demo", seed=seed, customers=customers)


@main.command()
@click.argument("username")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Password (asked for when not given).",
)
@click.option(
    "--team", "teams", multiple=True, help="Team slug; repeat for several. Created if missing."
)
@click.option(
    "--role", type=click.Choice(["agent", "lead", "admin"]), default="agent", show_default=True
)
@click.option("--email", default="", help="Email for notifications.")
@click.option("--update", is_flag=True, help="Update the agent if the username exists.")
def createagent(
    username: str, password: str, teams: tuple[str, ...], role: str, email: str, update: bool
) -> None:
    """Create a console login with an agent profile."""
    _django()
    from lastmile.people.services import agent_create, team_ensure

    try:
        team_rows = [team_ensure(name=t.replace("-", " ").title(), slug=t) for t in teams]
        agent = agent_create(
            username=username,
            password=password,
            teams=team_rows,
            role=role,
            email=email,
            update=update,
        )
    except Exception as exc:
        _fail(exc)
    click.echo(
        f"agent {agent.user.username} ({role}) in {', '.join(t for t in teams) or 'no team'}",
        err=True,
    )


@main.group()
def token() -> None:
    """API tokens (stored hashed; shown once)."""


@token.command("create")
@click.argument("name")
@click.option(
    "--agent", "agent_username", default=None, help="Act as this agent (sees only their teams)."
)
def token_create_cmd(name: str, agent_username: str | None) -> None:
    """Create a token; prints the token alone on stdout."""
    _django()
    from lastmile.api.services import token_create
    from lastmile.core.clock import utcnow
    from lastmile.people.models import Agent

    agent = None
    if agent_username:
        agent = Agent.objects.filter(user__username=agent_username).first()
        if agent is None:
            raise click.ClickException(f"no agent {agent_username!r}")
    try:
        _, secret = token_create(name=name, agent=agent, now=utcnow())
    except Exception as exc:
        _fail(exc)
    click.echo(secret)


@token.command("revoke")
@click.argument("name")
def token_revoke_cmd(name: str) -> None:
    """Revoke a token by name."""
    _django()
    from lastmile.api.models import ApiToken
    from lastmile.api.services import token_revoke
    from lastmile.core.clock import utcnow

    row = ApiToken.objects.filter(name=name).first()
    if row is None:
        raise click.ClickException(f"no token {name!r}")
    token_revoke(token=row, actor=None, actor_label="cli", now=utcnow())
    click.echo(f"revoked {name}", err=True)


@main.command()
@click.option("--batch-size", type=int, default=2000, show_default=True)
def sweep(batch_size: int) -> None:
    """Run the escalation sweep once, now (the worker does this every minute)."""
    _django()
    from lastmile.core.clock import utcnow
    from lastmile.loops.services import loops_sweep

    r = loops_sweep(now=utcnow(), batch_size=batch_size)
    click.echo(
        f"{r.loops} loops, {r.rungs} rungs, {r.breached} breached, {r.notifications} notifications"
    )


@main.command("analytics-copy")
@click.option(
    "--settle-seconds",
    type=click.FloatRange(0),
    metavar="SECONDS",
    default=None,
    show_default="30, as the worker",
    help="Leave rows recorded in the last SECONDS for the next copy (on PostgreSQL a row's id "
    "is taken before its transaction commits). 0 copies everything committed, when nothing "
    "is being ingested.",
)
@click.option(
    "--no-wait", is_flag=True, help="Do nothing when another copy is running, rather than wait."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def analytics_copy_cmd(settle_seconds: float | None, no_wait: bool, quiet: bool) -> None:
    """Copy the new web and app events into the analytics engine now.

    The worker does this every minute; run it after an import, or to see events sent a
    moment ago in the funnels. Each event is copied once, even if this or the worker's
    copy is stopped midway; two copies never run at once (this one waits its turn).
    """
    _django()
    from lastmile.core.clock import utcnow
    from lastmile.customers.models import Interaction
    from lastmile.funnels.selectors import EVENT_CHANNELS
    from lastmile.funnels.services import SETTLE_SECONDS, analytics_copy_locked, analytics_engine

    engine = analytics_engine()
    start = engine.mark()
    last = (
        Interaction.objects.filter(pk__gt=start, channel__in=EVENT_CHANNELS)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    # The bar runs over event-store ids: from the mark to the newest web or app row.
    with click.progressbar(
        length=(last or start) - start,
        label="copying events",
        file=sys.stderr,
        show_eta=True,
        hidden=quiet or not last,
    ) as bar:
        done = start

        def advance(mark: int) -> None:
            nonlocal done
            bar.update(max(0, min(mark, last or mark) - done))
            done = max(done, mark)

        report = analytics_copy_locked(
            engine=engine,
            now=utcnow(),
            settle_seconds=SETTLE_SECONDS if settle_seconds is None else settle_seconds,
            wait=not no_wait,
            after_batch=advance,
        )
    if report is None:
        raise click.ClickException("another copy is running; nothing copied")
    click.echo(
        f"{report.events} events copied in {report.batches} batches; "
        f"copied up to event-store id {report.mark}"
    )


def backup_file_stores() -> tuple:
    """The directories of stored files a backup holds, each under its name in the backup."""
    from lastmile.core.backup import FileStore
    from lastmile.mail.conf import storage_dir
    from lastmile.portal.services import upload_storage

    return (
        FileStore("portal-uploads", Path(upload_storage().location)),
        FileStore("mail-store", storage_dir()),
    )


def _backup_failed(exc: Exception) -> click.ClickException:
    failed = click.ClickException(str(exc))
    failed.exit_code = getattr(exc, "exit_code", 1)
    return failed


@main.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace FILE if it exists.")
@click.option("--quiet", "-q", is_flag=True, help="Say nothing but errors.")
def backup_cmd(file: Path, overwrite: bool, quiet: bool) -> None:
    """Write a backup of this installation to FILE while it runs (a .tar.gz).

    One consistent snapshot of the database (SQLite: its online backup API; PostgreSQL:
    pg_dump, which must be on PATH), every stored file (portal uploads, the mail store's
    messages and attachments) and the secret key, with a manifest of row counts and
    checksums. FILE is written with mode 0600 (it holds the secret key); it appears only
    once whole. Exit 0 when written, 1 on failure.
    """
    if file.exists() and not overwrite:
        raise click.ClickException(f"{file} exists: choose another name, or pass --overwrite")
    _django()
    from lastmile.core.backup import BackupError, backup_write, human_size, installation_current
    from lastmile.core.clock import utcnow

    say = (lambda m: None) if quiet else (lambda m: click.echo(m, err=True))
    try:
        report = backup_write(
            installation=installation_current(stores=backup_file_stores()),
            path=file,
            now=utcnow(),
            progress=say,
        )
    except BackupError as exc:
        raise _backup_failed(exc) from None
    say(
        f"backup written to {report.path}: {human_size(report.size)} in {report.seconds:.1f} s "
        f"({report.rows:,} rows in {report.tables} tables, {report.files:,} files)"
    )


@main.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Say nothing but errors and warnings.")
def restore_cmd(file: Path, quiet: bool) -> None:
    """Restore a backup made by `lastmile backup` into this installation, which must be empty.

    This installation is the one LASTMILE_DATABASE_URL and LASTMILE_VAR_DIR name: a new
    database (no tables, or only the empty ones `lastmile migrate` makes) and no stored
    files. Stop its web servers and workers first. Nothing is changed until the whole
    file is read and every member matches its checksum; then the database, the stored
    files and the secret key (into the var dir) are restored, and the migrations newer
    than the backup applied. The analytics copy is rebuilt by the worker.

    Exit codes: 0 restored; 1 failed; 2 bad usage; 3 FILE is not a lastmile backup,
    or is cut short or corrupt; 4 FILE cannot be restored here (another database
    engine, or a newer lastmile's); 5 this installation is not empty.
    """
    _django()
    from lastmile.core.backup import (
        BackupError,
        installation_current,
        migrate_pending,
        restore_read,
    )

    say = (lambda m: None) if quiet else (lambda m: click.echo(m, err=True))
    try:
        report = restore_read(
            installation=installation_current(stores=backup_file_stores()), path=file, progress=say
        )
    except BackupError as exc:
        raise _backup_failed(exc) from None
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    applied = migrate_pending(progress=say)
    say(
        f"restored {file} in {report.seconds:.1f} s: {report.rows:,} rows in {report.tables} "
        f"tables, {report.files:,} files, the secret key"
        + (f"; {len(applied)} newer migration(s) applied" if applied else "")
    )


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def manage(ctx: click.Context) -> None:
    """Any Django management command, e.g. `lastmile manage createsuperuser`."""
    _django()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["lastmile manage", *ctx.args])


def _add_subcommands() -> None:
    from lastmile.channels.cli import source
    from lastmile.listening.cli import listen, mentions, sentiment

    main.add_command(mentions)

    main.add_command(source)
    main.add_command(sentiment)
    main.add_command(listen)
    from lastmile.mail.cli import register as register_mail  # smtpd, mail

    register_mail(main)
    from lastmile.webhooks.cli import integration

    main.add_command(integration)
    from lastmile.portal.cli import portal

    main.add_command(portal)
    main.add_command(__import__("lastmile.journeys.cli", fromlist=["journeys"]).journeys)
    from lastmile.scorecards.cli import digest, qa, rollups

    main.add_command(rollups)
    main.add_command(qa)
    main.add_command(digest)


_add_subcommands()

if __name__ == "__main__":
    main()
