"""The shipped sentiment model: artefact, API and the `lastmile sentiment score` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lastmile.listening import sentiment
from lastmile.listening.sentiment.model import ARTEFACT, features, normalise

LABELS = {"negative", "neutral", "positive"}

# A small committed slice: obvious customer-service messages with their expected labels.
SLICE = [
    ("I love this, thank you so much!", "positive"),
    ("worst service ever, still waiting, furious", "negative"),
    ("The store opens at 9am on Monday.", "neutral"),
    ("Great job team, the new app is amazing :)", "positive"),
    ("My card was declined again and nobody answers the phone. Terrible.", "negative"),
    ("Thanks @user for the quick fix, you made my day!", "positive"),
    ("Still no refund after three weeks. Unacceptable.", "negative"),
    ("The meeting has been moved to Thursday at 3pm", "neutral"),
    ("so happy with my new phone, best purchase this year", "positive"),
    ("I hate this update, everything is broken and slow", "negative"),
    ("Flight BA117 departs from terminal 5 tomorrow", "neutral"),
    ("Awesome customer support, really helpful and friendly", "positive"),
]


def _run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "lastmile.cli", "sentiment", "score", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_artefact_loads_and_is_at_most_25_mb() -> None:
    assert ARTEFACT.stat().st_size <= 25 * 1024 * 1024
    model = sentiment.get_model()
    assert set(model.classes) == LABELS
    assert model.meta["figures"]["val_macro_recall"] > 0.6


def test_model_is_loaded_once_per_process() -> None:
    assert sentiment.get_model() is sentiment.get_model()


def test_positive_text_is_positive() -> None:
    label, score = sentiment.predict_one("I love this, thank you so much!")
    assert label == "positive"
    assert score > 0.3


def test_negative_text_is_negative() -> None:
    label, score = sentiment.predict_one("worst service ever, still waiting, furious")
    assert label == "negative"
    assert score < -0.3


def test_factual_text_is_neutral() -> None:
    assert sentiment.predict_one("The store opens at 9am on Monday.")[0] == "neutral"


def test_labels_are_in_the_set_and_scores_in_range() -> None:
    texts = ["", "   ", "🙂", "???", "a" * 5000, "\\u2019 &amp; @someone http://x.co", "ok"]
    out = sentiment.predict(texts)
    assert len(out) == len(texts)
    for label, score in out:
        assert label in LABELS
        assert -1.0 <= score <= 1.0


def test_predict_of_nothing_is_nothing() -> None:
    assert sentiment.predict([]) == []


def test_predict_is_deterministic_and_independent_of_batching() -> None:
    texts = [t for t, _ in SLICE]
    first = sentiment.predict(texts)
    assert sentiment.predict(texts) == first
    assert [sentiment.predict_one(t) for t in texts] == first


def test_committed_slice_is_mostly_right() -> None:
    predicted = [label for label, _ in sentiment.predict([t for t, _ in SLICE])]
    right = sum(p == want for p, (_, want) in zip(predicted, SLICE, strict=True))
    assert right >= len(SLICE) - 2, list(zip(predicted, SLICE, strict=True))


def test_negation_is_marked_until_punctuation() -> None:
    feats = features("not good. good")
    assert "w:good_NEG" in feats
    assert "w:good" in feats


def test_normalise_folds_users_urls_escapes_and_entities() -> None:
    assert normalise("@Bob Don\\u2019t &amp; see https://t.co/x SOOOOO") == (
        "@user don’t & see http sooo"
    )


def test_cli_writes_one_label_per_line_in_order(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text(
        "I love this, thank you so much!\n"
        "worst service ever, still waiting, furious\n"
        "The store opens at 9am on Monday.\n",
        encoding="utf-8",
    )
    proc = _run("--input", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == "positive\nnegative\nneutral\n"


def test_cli_keeps_empty_lines_and_a_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(b"I love this, thank you so much!\n\n\xff\xfe broken bytes\nawful, furious")
    proc = _run("--input", str(path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().split("\n")
    assert lines[-1] == ""
    assert len(lines[:-1]) == 4
    assert set(lines[:-1]) <= LABELS
    assert lines[0] == "positive"
    assert lines[3] == "negative"


def test_cli_reads_stdin() -> None:
    proc = _run("--input", "-", stdin=b"I love this, thank you so much!\nterrible, furious\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == "positive\nnegative\n"


def test_cli_writes_to_output_file(tmp_path: Path) -> None:
    out = tmp_path / "labels.txt"
    proc = _run("--input", "-", "--output", str(out), stdin=b"thank you so much, love it\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b""
    assert out.read_text(encoding="utf-8") == "positive\n"


def test_cli_missing_file_fails_clearly(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    proc = _run("--input", str(missing))
    assert proc.returncode != 0
    assert proc.stdout == b""
    assert "not found" in proc.stderr.decode()
    assert str(missing) in proc.stderr.decode()


@pytest.mark.parametrize("args", [(), ("--input",)])
def test_cli_without_input_is_a_usage_error(args: tuple[str, ...]) -> None:
    proc = _run(*args)
    assert proc.returncode == 2
    assert proc.stdout == b""
