"""`lastmile sentiment …`, `lastmile listen …` and `lastmile mentions …`."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from typing import Any

import click

from lastmile.listening.anomaly.cli import detect
from lastmile.sentiment.cli import score


@click.group()
def sentiment() -> None:
    """Sentiment (negative / neutral / positive) with the model shipped in the package."""


sentiment.add_command(score)


@sentiment.command("process")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def sentiment_process(quiet: bool) -> None:
    """Score the messages the batch ingest (interactions API, Segment) stored without a
    sentiment, in batches, until none is left (what the worker does after each ingest)."""
    from lastmile.cli import _django

    _django()
    from lastmile.customers.services.sentiment import (
        Scored,
        interactions_sentiment_pending_count,
        interactions_sentiment_score,
    )

    pending = interactions_sentiment_pending_count()
    if not pending:
        click.echo("no messages pending")
        return
    started, cpu = time.perf_counter(), time.process_time()
    total = Scored()
    with click.progressbar(length=pending, label="scoring", file=sys.stderr, hidden=quiet) as bar:
        while (done := interactions_sentiment_score()).batches:
            total = Scored(
                messages=total.messages + done.messages,
                gone=total.gone + done.gone,
                batches=total.batches + 1,
            )
            bar.update(done.messages + done.gone)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    click.echo(
        f"{total.messages:,} messages scored in {total.batches:,} batches in {seconds:.1f} s "
        f"({_rate(total.messages, seconds).replace('rows', 'messages')}; {cpu:.2f} s of CPU)"
        + (f"; {total.gone:,} were deleted before scoring" if total.gone else "")
    )


@click.group()
def listen() -> None:
    """Social listening: spike and anomaly detection over mention volumes."""


listen.add_command(detect)


@click.group()
def mentions() -> None:
    """Social mentions: import posts, watch terms."""


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f} rows/s" if seconds > 0 else "-"


@mentions.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "twitter-json", "twcs-csv"]),
    default="auto",
    show_default=True,
    help="The file's layout; auto looks at its first bytes.",
)
@click.option(
    "--brand",
    default="",
    metavar="HANDLE",
    help="Only this brand's conversations (by, to or replying to @HANDLE); its brand watch "
    "term is created if missing.",
)
@click.option("--network", default="twitter", show_default=True, help="Network of the posts.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 5000),
    default=500,
    show_default=True,
    help="Rows per transaction (the unit of resuming).",
)
@click.option(
    "--restart", is_flag=True, help="Read the file from the top again (still idempotent)."
)
@click.option(
    "--process",
    "process_now",
    is_flag=True,
    help="Then score and put on the timeline what is pending, in this process (as "
    "`lastmile mentions process` does), instead of leaving it to the worker.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def import_cmd(
    file: str,
    fmt: str,
    brand: str,
    network: str,
    batch_size: int,
    restart: bool,
    process_now: bool,
    quiet: bool,
) -> None:
    """Import mentions from FILE: resumable (a rerun goes on after the last stored batch) and
    idempotent (a post is stored once); malformed rows are reported by line and skipped.

    The mentions are stored "sentiment pending": the worker scores them and puts those
    addressed to a brand on the timeline (cases, reply loops) in batches, right after the
    import (`lastmile mentions process` does it by hand, `--process` at the end of this)."""
    from lastmile.cli import _django, _fail

    _django()
    from lastmile.core.clock import utcnow
    from lastmile.core.errors import DomainError
    from lastmile.listening.importers import BrandFilter, FileError, detect_format, read
    from lastmile.listening.records import RowError
    from lastmile.listening.services.files import importrun_batch, importrun_begin, importrun_finish
    from lastmile.listening.services.terms import Terms, brand_term_ensure

    path = os.path.abspath(file)
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as fh:
            fmt = detect_format(fh.read(4096)) if fmt == "auto" else fmt
        brand_filter = BrandFilter(brand) if brand else None
    except (FileError, RowError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        if brand:
            term, created = brand_term_ensure(handle=brand, now=utcnow())
            if created:
                click.echo(f"created brand watch term {term.name!r} (query {term.query})", err=True)
        run = importrun_begin(
            path=path,
            sha256=_sha256(path),
            size=size,
            format=fmt,
            brand=brand_filter.handle if brand_filter else "",
            restart=restart,
            now=utcnow(),
        )
    except DomainError as exc:
        _fail(exc)
    if run.finished_at is not None:
        click.echo(
            f"{file}: already imported on {run.finished_at:%Y-%m-%d %H:%M} UTC "
            f"({run.imported:,} mentions, {run.skipped:,} rows skipped); nothing to do "
            "(--restart reads it again)",
            err=True,
        )
        return
    if run.last_line:
        click.echo(f"{file}: resuming after line {run.last_line:,}", err=True)

    tally = {"created": 0, "existing": 0, "filtered": 0, "errors": 0, "rows": 0}
    errors: list[tuple[int, str]] = []
    shown: list[tuple[int, str]] = []
    batch: list[Any] = []
    pending_errors: list[tuple[int, str]] = []
    filtered = 0
    last_position = resume_after = run.last_line
    started, cpu = time.perf_counter(), time.process_time()

    terms = Terms.load()
    written_to = run.last_line  # the position the last batch written ends at

    def flush(position: int) -> None:
        nonlocal batch, pending_errors, filtered, written_to
        result = importrun_batch(
            run=run,
            items=batch,
            last_line=position,
            errors=pending_errors,
            filtered=filtered,
            now=utcnow(),
            terms=terms,
        )
        written_to = position
        tally["created"] += result.created
        tally["existing"] += result.existing
        tally["filtered"] += filtered
        batch, pending_errors, filtered = [], [], 0

    bar_file = sys.stderr
    with open(path, "rb") as fh:
        rows = read(fh, fmt, network=network, brand=brand_filter)
        with click.progressbar(
            length=size,
            label=f"importing {os.path.basename(file)}",
            file=bar_file,
            show_eta=True,
            hidden=quiet,
        ) as bar:
            seen = 0
            try:
                for row in rows:
                    if row.consumed > seen:
                        bar.update(row.consumed - seen)
                        seen = row.consumed
                    if row.position <= resume_after:
                        continue
                    # Flush only between positions: a JSON Lines page holds several tweets
                    # on one line, and a resumed run skips whole positions.
                    if len(batch) >= batch_size and row.position != last_position:
                        flush(last_position)
                    last_position = row.position
                    tally["rows"] += 1
                    if row.error:
                        tally["errors"] += 1
                        errors.append((row.position, row.error))
                        pending_errors.append((row.position, row.error))
                        if len(shown) < 20:
                            shown.append((row.position, row.error))
                        continue
                    if row.filtered:
                        filtered += 1
                        continue
                    batch.append(row.item)
                flush(last_position)
            except FileError as exc:
                raise click.ClickException(f"{file}: {exc}") from None
            except DomainError as exc:
                click.echo(
                    f"\nstopped; nothing after line {written_to} was stored. "
                    "Fix the cause and rerun to resume.",
                    err=True,
                )
                _fail(exc)
            bar.update(size - seen)
    importrun_finish(run=run, now=utcnow())
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    where = "line" if fmt == "twcs-csv" else "row"
    for position, reason in shown:
        click.echo(f"{where} {position}: {reason}", err=True)
    if tally["errors"] > len(shown):
        click.echo(f"... and {tally['errors'] - len(shown)} more malformed rows", err=True)
    parts = [
        f"{tally['created']:,} mentions imported",
        f"{tally['existing']:,} already stored",
        f"{tally['errors']:,} malformed rows skipped",
    ]
    if brand:
        parts.append(f"{tally['filtered']:,} rows of other brands skipped")
    click.echo(
        f"{file}: {', '.join(parts)}; "
        f"{tally['rows']:,} rows in {seconds:.1f} s ({_rate(tally['rows'], seconds)}; "
        f"{cpu:.2f} s of CPU)"
    )
    if process_now:
        _process_pending(quiet=quiet)
    elif tally["created"]:
        _process_later()


def _process_later() -> None:
    """Ask the worker to process what the import left pending (its periodic run would
    anyway, within a minute)."""
    from lastmile.listening.services.process import mentions_pending_count

    try:
        from lastmile.listening.tasks import process_mentions

        process_mentions()
        asked = "the worker has been asked to score them"
    except Exception as exc:  # noqa: BLE001 - a queue that is down must not fail the import
        asked = (
            f"the queue did not answer ({exc.__class__.__name__}); the worker's periodic run will"
        )
    click.echo(
        f"{mentions_pending_count():,} mentions pending (sentiment, timeline): {asked} "
        "(`lastmile mentions process` does it now)",
        err=True,
    )


def _process_pending(*, quiet: bool) -> None:
    from lastmile.core.clock import utcnow
    from lastmile.listening.services.process import BATCH, mentions_process

    started, cpu = time.perf_counter(), time.process_time()
    total = None
    while True:
        done = mentions_process(now=utcnow(), limit=BATCH)
        if not done.batches:
            break
        if total is None:
            total = done
        else:
            total.add(done)
        if not quiet:
            click.echo(f"  {total.mentions:,} processed", err=True)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if total is None:
        click.echo("no mentions pending")
        return
    click.echo(
        f"{total.mentions:,} mentions processed: sentiment scored, {total.interactions:,} "
        f"put on the timeline, {total.cases:,} cases opened; in {seconds:.1f} s "
        f"({_rate(total.mentions, seconds)}; {cpu:.2f} s of CPU; scoring {total.score_seconds:.1f} s, "
        f"{_rate(total.mentions, total.score_seconds).replace('rows', 'texts')}; "
        f"{total.score_cpu_seconds:.2f} s of CPU in the model)"
    )


@mentions.command("process")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def process_cmd(quiet: bool) -> None:
    """Score the sentiment of pending mentions and put those addressed to a brand on the
    timeline, in batches, until none is left (what the worker does after an import)."""
    from lastmile.cli import _django

    _django()
    _process_pending(quiet=quiet)


@mentions.command("term")
@click.argument("name")
@click.argument("query")
@click.option(
    "--kind",
    type=click.Choice(["brand", "product", "competitor"]),
    default="brand",
    show_default=True,
)
@click.option("--handle", default="", help="The brand's own handle (kind brand), e.g. @AcmeBank.")
@click.option(
    "--team", "team_slug", default="", help="Slug of the team owning the brand's social care."
)
def term_cmd(name: str, query: str, kind: str, handle: str, team_slug: str) -> None:
    """Add a watch term: NAME and a boolean QUERY (AND, OR, NOT, "phrases", parentheses)."""
    from lastmile.cli import _django, _fail

    _django()
    from lastmile.core.clock import utcnow
    from lastmile.core.errors import DomainError
    from lastmile.listening.services.terms import watchterm_create
    from lastmile.people.selectors import team_by_slug

    try:
        team = team_by_slug(team_slug or None)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None
    try:
        term = watchterm_create(
            name=name, query=query, kind=kind, brand_handle=handle, team=team, now=utcnow()
        )
    except DomainError as exc:
        _fail(exc)
    click.echo(f"watch term {term.name!r} ({term.kind}): {term.query}", err=True)
