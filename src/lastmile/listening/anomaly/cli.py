"""`lastmile listen detect`: score a ``timestamp,value`` CSV with the spike detector."""

from __future__ import annotations

import csv
import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from lastmile.listening.anomaly.detector import DEFAULT_SENSITIVITY, SpikeDetector


class SeriesError(Exception):
    """A problem with the input series, with the 1-based line it was found on."""


def parse_epoch(text: str) -> float:
    """Seconds since the epoch of 'YYYY-MM-DD HH:MM:SS' (naive = UTC) or ISO 8601."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def read_series(path: Path) -> list[tuple[str, float, float]]:
    """``(timestamp as written, epoch seconds, value)`` per row; raises SeriesError."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise SeriesError(f"{path}: no such file") from None
    except OSError as exc:
        raise SeriesError(f"{path}: cannot read ({exc.strerror})") from None
    rows: list[tuple[str, float, float]] = []
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None or [c.strip().lower() for c in header] != ["timestamp", "value"]:
                raise SeriesError(
                    f"{path}:1: expected the header 'timestamp,value', got {header!r}"
                )
            previous = None
            for record in reader:
                line = reader.line_num
                if not record or all(not c.strip() for c in record):
                    continue
                if len(record) != 2:
                    raise SeriesError(f"{path}:{line}: expected 2 fields, got {len(record)}")
                stamp, raw = record
                try:
                    epoch = parse_epoch(stamp)
                except ValueError:
                    raise SeriesError(f"{path}:{line}: bad timestamp {stamp!r}") from None
                try:
                    value = float(raw)
                except ValueError:
                    raise SeriesError(f"{path}:{line}: bad value {raw!r}") from None
                if not math.isfinite(value) or value < 0:
                    raise SeriesError(f"{path}:{line}: value must be a count >= 0, got {raw!r}")
                if previous is not None and epoch <= previous:
                    raise SeriesError(f"{path}:{line}: timestamp {stamp!r} is not after the last")
                previous = epoch
                rows.append((stamp, epoch, value))
        except UnicodeDecodeError:
            raise SeriesError(f"{path}: not UTF-8 text") from None
        except csv.Error as exc:
            raise SeriesError(f"{path}:{reader.line_num}: {exc}") from None
    return rows


def detect_series(
    rows: list[tuple[str, float, float]], sensitivity: float = DEFAULT_SENSITIVITY
) -> dict:
    detector = SpikeDetector(sensitivity=sensitivity)
    update = detector.update
    detections: list[str] = []
    scores: list[list] = []
    for stamp, epoch, value in rows:
        score, alert = update(value, epoch)
        scores.append([stamp, round(score, 6)])
        if alert:
            detections.append(stamp)
    return {"detections": detections, "scores": scores}


@click.command()
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV with a 'timestamp,value' header, one 5-minute bucket per row.",
)
@click.option(
    "--sensitivity",
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    default=DEFAULT_SENSITIVITY,
    show_default=True,
    help="Higher raises more alerts: an alert fires at score >= 1 - sensitivity.",
)
@click.option(
    "--output",
    "output_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the JSON here instead of stdout.",
)
def detect(input_path: Path, sensitivity: float, output_path: Path | None) -> None:
    """Score a mention-volume series; print {"detections": [...], "scores": [...]} as JSON.

    The first 600 buckets (about two days) are the detector's learning period: they are
    scored, but raise no detection.
    """
    try:
        rows = read_series(input_path)
    except SeriesError as exc:
        raise click.ClickException(str(exc)) from None
    probation = SpikeDetector().probation
    if len(rows) <= probation:
        # Not an error (the scores are still worth having), but a silent empty list of
        # detections looks like a broken detector.
        click.echo(
            f"note: {input_path}: {len(rows)} buckets, all inside the detector's learning "
            f"period of {probation} buckets (about {probation * 5 / 60 / 24:.1f} days of "
            "5-minute buckets): nothing can be detected yet",
            err=True,
        )
    text = json.dumps(detect_series(rows, sensitivity), separators=(",", ":"))
    if output_path is None:
        sys.stdout.write(text + "\n")
    else:
        output_path.write_text(text + "\n", encoding="utf-8")
