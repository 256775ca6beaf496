"""The shipped sentiment models (the fine-tuned MiniLM served by ONNX Runtime, the default,
and the linear n-gram model): artefacts, API and the `lastmile sentiment score` command."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from lastmile import sentiment
from lastmile.sentiment import encoder as encoder_module
from lastmile.sentiment import model as model_module
from lastmile.sentiment.model import (
    ARTEFACT,
    MODELS,
    dense,
    features,
    normalise,
    static_keys,
    tokens,
)
from tests.conftest import shared_data

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


GOLDEN = Path(__file__).resolve().parent / "sentiment_val_golden.json"
# The demo's thank-you (src/lastmile/demo/stories/visit.py), which the model used to call negative.
THANK_YOU = (
    "Just wanted to say thank you — Gareth was on time, explained everything, and the Wi-Fi "
    "hasn't dropped once since. Please pass on my thanks.\n\nMargaret"
)
TRICKY = [
    "",
    "   ",
    "🙂🙂🙂",
    "not good. good, not not bad!!!",
    "SOOOOO happy\\u2019s &amp; @Someone https://t.co/x www.x.org",
    "a" * 5000,
    "I don't like it, never again; but the staff were great :) <3",
    "the the the the the the",  # repeated words: counts across words
    "x",
    "Ünïcödé wörds — and tabs\tand\nnewlines",
]


def plain_decision(model: model_module.Model, texts: list[str]) -> np.ndarray:
    """The model's decision computed the plain way, as it was before the feature cache:
    every feature string from ``features()``, looked up, counted."""
    cols: list[int] = []
    tfs: list[int] = []
    lengths: list[int] = []
    for text in texts:
        counts = Counter(map(model.vocab.get, features(text, model.opts)))
        counts.pop(None, None)
        cols.extend(counts.keys())  # type: ignore[arg-type]
        tfs.extend(counts.values())
        lengths.append(len(counts))
    n = len(texts)
    out = np.tile(model.intercept, (n, 1))
    out += dense(texts, model.opts) @ model.dense_coef
    # The static part, word by word: the mean of the known words' rows outside negation plus
    # the mean of those inside it (added in the order the model's bincount adds them).
    static = np.zeros_like(out)
    for r, text in enumerate(texts):
        keys = static_keys(tokens(normalise(text), bool(model.opts["negation"])))
        for table, inside in ((model.static_pos, False), (model.static_neg, True)):
            ids = [
                model.static_vocab[w]
                for w, neg in keys
                if neg == inside and w in model.static_vocab
            ]
            for k in range(out.shape[1]):
                acc = 0.0
                for i in ids:
                    acc += table[i, k] * (1.0 / len(ids))
                static[r, k] += acc
    out += static
    col = np.asarray(cols, dtype=np.int64)
    tf = 1.0 + np.log(np.asarray(tfs, dtype=np.float64))
    row = np.repeat(np.arange(n), lengths)
    w = tf * model.idf[col]
    norm = np.sqrt(np.bincount(row, weights=w * w, minlength=n))
    norm[norm == 0] = 1.0
    w /= norm[row]
    for k in range(out.shape[1]):
        out[:, k] += np.bincount(row, weights=w * model.coef[col, k], minlength=n)
    return out


def _run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "lastmile.cli", "sentiment", "score", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(params=MODELS)
def predict(request: pytest.FixtureRequest):
    """Each shipped model's ``predict``."""
    return sentiment.get_model(request.param).predict


def test_linear_artefact_loads_and_is_at_most_25_mb() -> None:
    assert ARTEFACT.stat().st_size <= 25 * 1024 * 1024
    model = sentiment.get_model("linear")
    assert set(model.classes) == LABELS
    assert model.meta["figures"]["val_macro_recall"] > 0.6


def test_encoder_artefact_is_whole_and_at_most_25_mb() -> None:
    directory = encoder_module.ARTEFACT_DIR
    size = sum(f.stat().st_size for f in directory.iterdir())
    assert size <= 25 * 1024 * 1024
    model = sentiment.get_model("encoder")
    assert model.classes == ("negative", "neutral", "positive")
    assert model.meta["onnx_sha256"] == encoder_module.sha256(directory / encoder_module.ONNX_FILE)
    assert model.meta["layers"] == 3 and model.max_len == 64


def test_an_incomplete_encoder_artefact_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / encoder_module.META_FILE).write_text("{}", encoding="utf-8")

    with pytest.raises(RuntimeError, match="model.int8.onnx, tokenizer.json missing"):
        encoder_module.EncoderModel(tmp_path)


def test_the_encoder_is_the_default_and_settings_choose_the_linear_model(settings) -> None:
    text = "I don't like it, never again; but the staff were great :) <3"
    assert sentiment.get_model() is sentiment.get_model("encoder")
    assert sentiment.predict([text]) == sentiment.get_model("encoder").predict([text])

    settings.LASTMILE_SENTIMENT_MODEL = "linear"

    assert sentiment.get_model() is sentiment.get_model("linear")
    assert sentiment.predict([text]) == sentiment.get_model("linear").predict([text])


def test_the_command_takes_a_model_and_the_setting(tmp_path: Path) -> None:
    text = THANK_YOU.split("\n")[0].encode() + b"\n"  # the two models disagree on it
    assert _run("--input", "-", "--model", "encoder", stdin=text).stdout == b"positive\n"
    assert _run("--input", "-", "--model", "linear", stdin=text).stdout == b"negative\n"
    by_setting = subprocess.run(
        [sys.executable, "-m", "lastmile.cli", "sentiment", "score", "--input", "-"],
        input=text,
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, "LASTMILE_SENTIMENT_MODEL": "linear", "LASTMILE_VAR_DIR": str(tmp_path)},
    )
    assert by_setting.stdout == b"negative\n", by_setting.stderr


def test_an_unknown_model_is_refused() -> None:
    with pytest.raises(RuntimeError, match="no sentiment model 'bert': choose one of encoder"):
        sentiment.get_model("bert")


def test_an_unknown_model_in_the_environment_stops_the_start() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lastmile.cli", "sentiment", "score", "--input", "-"],
        input=b"hello\n",
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, "LASTMILE_SENTIMENT_MODEL": "bert"},
    )
    assert proc.returncode == 1
    assert proc.stdout == b""
    assert (
        "LASTMILE_SENTIMENT_MODEL='bert': expected encoder, linear or cascade"
        in proc.stderr.decode()
    )


@pytest.mark.parametrize("name", MODELS)
def test_model_is_loaded_once_per_process(name: str) -> None:
    assert sentiment.get_model(name) is sentiment.get_model(name)


def test_positive_text_is_positive(predict) -> None:
    label, score = predict(["I love this, thank you so much!"])[0]
    assert label == "positive"
    assert score > 0.3


def test_negative_text_is_negative(predict) -> None:
    label, score = predict(["worst service ever, still waiting, furious"])[0]
    assert label == "negative"
    assert score < -0.3


def test_the_demo_thank_you_is_positive() -> None:
    demo = (Path(model_module.__file__).parents[1] / "demo" / "stories" / "visit.py").read_text()
    assert (
        "the Wi-Fi hasn't \"\n" in demo and '"dropped once since. Please pass on my thanks.' in demo
    )
    label, score = sentiment.predict_one(THANK_YOU)
    assert label == "positive"
    assert score > 0  # 0.23: p(positive) − p(negative)


def test_factual_text_is_neutral(predict) -> None:
    assert predict(["The store opens at 9am on Monday."])[0][0] == "neutral"


def test_labels_are_in_the_set_and_scores_in_range(predict) -> None:
    texts = ["", "   ", "🙂", "???", "a" * 5000, "\\u2019 &amp; @someone http://x.co", "ok"]
    out = predict(texts)
    assert len(out) == len(texts)
    for label, score in out:
        assert label in LABELS
        assert -1.0 <= score <= 1.0


def test_predict_of_nothing_is_nothing(predict) -> None:
    assert predict([]) == []
    assert sentiment.predict([]) == []


def test_predict_is_deterministic_and_independent_of_batching(predict) -> None:
    # The encoder's int8 inputs have fixed, calibrated scales: a text's label and score do not
    # depend on the other texts of its batch, nor on the padding they bring.
    texts = [t for t, _ in SLICE] + TRICKY
    first = predict(texts)
    assert predict(texts) == first
    assert [predict([t])[0] for t in texts] == first
    assert predict(texts[::-1]) == first[::-1]


def test_committed_slice_is_mostly_right(predict) -> None:
    predicted = [label for label, _ in predict([t for t, _ in SLICE])]
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


def test_cached_features_give_exactly_the_plain_decision() -> None:
    model = sentiment.get_model("linear")
    assert model.sublinear and model.dense_coef is not None  # what plain_decision assumes
    assert model.static_vocab  # the shipped model has static word scores
    texts = [t for t, _ in SLICE] + TRICKY
    model._char_cache.clear()
    cold = model.decision(texts)
    warm = model.decision(texts)  # every word's n-grams now come from the cache
    expected = plain_decision(model, texts)
    assert np.array_equal(cold, expected)
    assert np.array_equal(warm, expected)


def test_the_feature_cache_is_bounded_and_starting_over_changes_nothing(monkeypatch) -> None:
    model = sentiment.get_model("linear")
    texts = [t for t, _ in SLICE]
    before = model.predict(texts)
    monkeypatch.setattr(model_module, "CHAR_CACHE_WORDS", 5)
    model._char_cache.clear()
    assert model.predict(texts) == before
    assert len(model._char_cache) <= 5


def test_predictions_equal_the_recorded_output_on_a_val_sample() -> None:
    """Every 5th TweetEval val tweet, scored by the model before the feature cache (the
    fixture); the texts stay in ../shared/data (their licence), the fixture keeps hashes.
    Without them the test skips, or fails under LASTMILE_REQUIRE_DATA=1 (CI)."""
    val_text = shared_data("tweeteval-sentiment/val_text.txt")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert golden["model_sha256"] == hashlib.sha256(ARTEFACT.read_bytes()).hexdigest(), (
        "model.npz changed: re-record the fixture with the new model"
    )
    lines = val_text.read_text(encoding="utf-8").split("\n")
    rows = golden["rows"]
    texts = [lines[r["line"] - 1] for r in rows]
    for r, text in zip(rows, texts, strict=True):
        assert hashlib.sha256(text.encode()).hexdigest()[:16] == r["sha256"], r["line"]
    model = sentiment.get_model("linear")
    model._char_cache.clear()
    decision = model.decision(texts)
    assert [[float(x) for x in d] for d in decision] == [r["decision"] for r in rows]
    assert model.predict(texts) == [(r["label"], r["score"]) for r in rows]
    assert [model.predict([t])[0] for t in texts[:50]] == [
        (r["label"], r["score"]) for r in rows[:50]
    ]


def test_the_cascade_keeps_the_linear_answer_where_it_is_sure_and_asks_the_encoder_else() -> None:
    from lastmile.sentiment.cascade import THRESHOLD
    from lastmile.sentiment.model import probabilities

    cascade = sentiment.get_model("cascade")
    linear, encoder = sentiment.get_model("linear"), sentiment.get_model("encoder")
    texts = [t for t, _ in SLICE] + [THANK_YOU]
    sure = probabilities(linear.decision(texts)).max(axis=1) >= THRESHOLD
    assert 0 < sure.sum() < len(texts)  # both ways are exercised
    got = cascade.predict(texts)
    for text, is_sure, answer in zip(texts, sure, got, strict=True):
        expected = (linear if is_sure else encoder).predict([text])[0]
        assert answer == expected, text
    assert cascade.encoder_share(texts) == pytest.approx(1 - sure.mean())
    # The thank-you is one the linear model is unsure of (it leans negative): the encoder's.
    assert not sure[-1] and got[-1][0] == "positive"


def test_the_cascade_refuses_two_models_of_different_classes() -> None:
    from lastmile.sentiment.cascade import CascadeModel

    class Other:
        classes = ("bad", "good")

    with pytest.raises(RuntimeError, match="disagree on their classes"):
        CascadeModel(sentiment.get_model("linear"), Other())
