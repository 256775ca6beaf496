"""File imports: a file's progress, stored batch by batch so a rerun resumes after the last
batch that committed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import F

from lastmile.core.db import unprepared
from lastmile.listening.models import ImportRun
from lastmile.listening.records import MentionIn
from lastmile.listening.services.batch import IngestResult
from lastmile.listening.services.store import mentions_store
from lastmile.listening.services.terms import Terms

MAX_RUN_ERRORS = 1000


def importrun_begin(
    *,
    path: str,
    sha256: str,
    size: int,
    format: str,
    brand: str = "",
    restart: bool = False,
    now: datetime,
) -> ImportRun:
    """The progress record of this file (same content, format and brand filter): found, so
    a rerun resumes after its last line, or new. ``restart`` starts it from the top."""
    with transaction.atomic():
        run, created = ImportRun.objects.get_or_create(
            sha256=sha256,
            size=size,
            format=format,
            brand=brand,
            defaults={"path": path, "started_at": now, "updated_at": now},
        )
        if not created and (restart or run.path != path):
            run.path = path
            if restart:
                run.last_line = 0
                run.imported = run.skipped = 0
                run.errors = []
                run.finished_at = None
                run.started_at = now
            run.updated_at = now
            run.save()
    return run


def importrun_batch(
    *,
    run: ImportRun,
    items: Sequence[MentionIn],
    last_line: int,
    errors: Sequence[tuple[int, str]],
    filtered: int,
    now: datetime,
    terms: Terms | None = None,
) -> IngestResult:
    """Store one batch of a file and move the run's position past it, in one transaction:
    after a crash the file resumes exactly after the last batch that committed. The
    mentions are stored pending (``store``): the worker scores them and puts them on the
    timeline (``process``). ``terms``: the watch terms, loaded once for the file.

    Its statements are not prepared (``unprepared``): a file fills tables that were empty
    when its first batches ran, and a plan PostgreSQL kept from then (a scan of a table
    of a few rows) is one that every later batch would keep using on thousands.
    """
    with unprepared():
        return _batch_store(
            run=run,
            items=items,
            last_line=last_line,
            errors=errors,
            filtered=filtered,
            now=now,
            terms=terms,
        )


def _batch_store(
    *,
    run: ImportRun,
    items: Sequence[MentionIn],
    last_line: int,
    errors: Sequence[tuple[int, str]],
    filtered: int,
    now: datetime,
    terms: Terms | None,
) -> IngestResult:
    with transaction.atomic():
        result = mentions_store(items=items, now=now, terms=terms) if items else IngestResult()
        kept = list(run.errors or [])
        room = MAX_RUN_ERRORS - len(kept)
        kept.extend([{"line": line, "reason": reason} for line, reason in errors][: max(0, room)])
        ImportRun.objects.filter(pk=run.pk).update(
            last_line=last_line,
            imported=F("imported") + result.created,
            skipped=F("skipped") + result.existing + filtered + len(errors),
            errors=kept,
            updated_at=now,
        )
        run.last_line, run.errors, run.updated_at = last_line, kept, now
        run.imported += result.created
        run.skipped += result.existing + filtered + len(errors)
    return result


def importrun_finish(*, run: ImportRun, now: datetime) -> ImportRun:
    ImportRun.objects.filter(pk=run.pk).update(finished_at=now, updated_at=now)
    run.finished_at = run.updated_at = now
    return run
