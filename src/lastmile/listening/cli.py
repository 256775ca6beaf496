"""`lastmile sentiment …`, `lastmile listen …` and `lastmile mentions …`."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from lastmile.listening.anomaly.cli import detect
from lastmile.sentiment.cli import score


@click.group()
def sentiment() -> None:
    """Sentiment (negative / neutral / positive) with the model shipped in the package."""


sentiment.add_command(score)


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


class _Scorer:
    """The sentiment of each batch's new mentions, asked for as soon as the batch is read
    and collected when it is written. With ``workers`` (processes of their own, started
    with the second batch: a file of one batch scores in this process) the model scores
    the next batch while this process writes the one before: scoring is about a third of
    an import's work, and it then runs on another core."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: Any = None
        self.asked = 0

    def ask(self, items: list[Any]) -> Callable[[], dict[tuple[str, str], tuple[str, float]]]:
        from lastmile.customers.services.timeline import SENTIMENT_MAX_CHARS
        from lastmile.listening.services.mentions import mentions_score, mentions_unscored

        self.asked += 1
        if not items:
            return dict
        if not self.workers or self.asked == 1:
            return lambda: mentions_score(items=items)
        fresh = mentions_unscored(items=items)
        keys = list(fresh)
        texts = [t[:SENTIMENT_MAX_CHARS] for t in fresh.values()]
        step = -(-len(texts) // self.workers) or 1
        futures = [
            self._pool().submit(_predict, texts[i : i + step]) for i in range(0, len(texts), step)
        ]

        def scores() -> dict[tuple[str, str], tuple[str, float]]:
            scored = [s for f in futures for s in f.result()]
            return dict(zip(keys, scored, strict=True))

        return scores

    def _pool(self) -> Any:
        if self.pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            from lastmile.sentiment import get_model

            # spawn: a fresh interpreter with the model only (no Django, no copy of this
            # process's database connection).
            self.pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=get_model,
            )
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def _predict(texts: list[str]) -> list[tuple[str, float]]:
    """``sentiments_score`` in a scoring process (the texts cut to length already)."""
    from lastmile.sentiment import predict

    return [(label, float(score)) for label, score in predict(texts)]


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
    "--workers",
    type=click.IntRange(0, 16),
    default=lambda: 1 if (os.cpu_count() or 1) > 1 else 0,
    show_default="1, or 0 on one core",
    help="Processes scoring sentiment beside the one writing (0: score in this process).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def import_cmd(
    file: str,
    fmt: str,
    brand: str,
    network: str,
    batch_size: int,
    restart: bool,
    workers: int,
    quiet: bool,
) -> None:
    """Import mentions from FILE: resumable (a rerun goes on after the last stored batch) and
    idempotent (a post is stored once); malformed rows are reported by line and skipped."""
    from lastmile.cli import _django, _fail

    _django()
    from lastmile.core.clock import utcnow
    from lastmile.core.errors import DomainError
    from lastmile.listening.importers import BrandFilter, FileError, detect_format, read
    from lastmile.listening.records import RowError
    from lastmile.listening.services.files import importrun_batch, importrun_begin, importrun_finish
    from lastmile.listening.services.terms import brand_term_ensure

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

    tally = {"created": 0, "existing": 0, "filtered": 0, "errors": 0, "rows": 0, "cases": 0}
    errors: list[tuple[int, str]] = []
    shown: list[tuple[int, str]] = []
    batch: list[Any] = []
    pending_errors: list[tuple[int, str]] = []
    filtered = 0
    last_position = resume_after = run.last_line
    started = time.perf_counter()

    # A batch read is scored (asked of the scorer) at once and written when the next one
    # has been read, so that its scoring overlaps the writing of the one before; batches
    # are still written one by one, in file order.
    scorer = _Scorer(workers)
    unwritten: list[dict[str, Any]] = []
    written_to = run.last_line  # the position the last batch written ends at

    def write() -> None:
        nonlocal written_to
        job = unwritten.pop(0)
        result = importrun_batch(
            run=run,
            items=job["items"],
            last_line=job["position"],
            errors=job["errors"],
            filtered=job["filtered"],
            now=utcnow(),
            scores=job["scores"](),
        )
        written_to = job["position"]
        tally["created"] += result.created
        tally["existing"] += result.existing
        tally["cases"] += result.cases
        tally["filtered"] += job["filtered"]

    def flush(position: int) -> None:
        nonlocal batch, pending_errors, filtered
        unwritten.append(
            {
                "items": batch,
                "position": position,
                "errors": pending_errors,
                "filtered": filtered,
                "scores": scorer.ask(batch),
            }
        )
        batch, pending_errors, filtered = [], [], 0
        if len(unwritten) > 1:
            write()

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
                while unwritten:
                    write()
            except FileError as exc:
                try:
                    while unwritten:  # what was read before the fault, as without scoring ahead
                        write()
                except DomainError as stored_not:
                    _fail(stored_not)
                raise click.ClickException(f"{file}: {exc}") from None
            except DomainError as exc:
                click.echo(
                    f"\nstopped; nothing after line {written_to} was stored. "
                    "Fix the cause and rerun to resume.",
                    err=True,
                )
                _fail(exc)
            finally:
                scorer.close()
            bar.update(size - seen)
    importrun_finish(run=run, now=utcnow())
    seconds = time.perf_counter() - started
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
        f"{file}: {', '.join(parts)}; {tally['cases']:,} cases opened; "
        f"{tally['rows']:,} rows in {seconds:.1f} s ({_rate(tally['rows'], seconds)})"
    )


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
