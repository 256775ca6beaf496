"""The two listening commands as a new user meets them, on files of their own."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest


def cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "lastmile.cli", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def series(path: Path, buckets: int, spike_at: int) -> Path:
    start = datetime(2026, 11, 20, tzinfo=UTC)
    rows = ["timestamp,value"]
    for i in range(buckets):
        value = 20 + (i * 7) % 5 + (150 if spike_at <= i < spike_at + 6 else 0)
        rows.append(f"{(start + timedelta(minutes=5 * i)):%Y-%m-%d %H:%M:%S},{value}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_series_inside_the_learning_period_says_why_nothing_is_detected(tmp_path):
    # two days of buckets with a big spike: still the detector's learning period
    result = cli("listen", "detect", "--input", str(series(tmp_path / "s.csv", 576, 400)))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["detections"] == [] and len(out["scores"]) == 576
    assert "learning period of 600 buckets" in result.stderr.decode()


def test_a_spike_after_the_learning_period_is_detected_without_a_note(tmp_path):
    result = cli("listen", "detect", "--input", str(series(tmp_path / "s.csv", 1152, 900)))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["detections"] == ["2026-11-23 03:00:00"]  # the spike's first bucket
    assert result.stderr == b""


def test_a_blank_line_is_neutral_and_keeps_its_place(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text(
        "My card got declined three times today, furious!\n"
        "\n"
        "   \n"
        "Thanks for sorting my refund so quickly, you are stars\n",
        encoding="utf-8",
    )
    result = cli("sentiment", "score", "--input", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().split("\n") == ["negative", "neutral", "neutral", "positive", ""]
    assert "scored 4 lines" in result.stderr.decode()


@pytest.mark.django_db
def test_a_watch_term_for_a_team_that_does_not_exist_is_refused_and_nothing_is_written():
    from click.testing import CliRunner

    from lastmile.cli import main
    from lastmile.listening.models import WatchTerm

    result = CliRunner().invoke(main, ["mentions", "term", "Acme", "acme", "--team", "nope"])

    assert result.exit_code != 0 and "no team 'nope'" in result.output
    assert not WatchTerm.objects.exists()
