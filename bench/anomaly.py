"""Spike detector bench: update throughput and NAB scores on the five shared realTweets series.

    .venv/bin/python bench/anomaly.py [--data DIR] [--scorer FILE] [--no-write]

Prints one JSON object (``anomaly_buckets_per_s``, ``nab_standard``, ``nab_low_fp``,
``nab_low_fn``, the sensitivity sweep and a leave-one-out check) and writes bench/ANOMALY.md.

- Throughput: the bare ``SpikeDetector.update`` loop over the five series concatenated
  (about 79,000 buckets), best of five runs, one core, no I/O.
- Quality: ``lastmile listen detect``'s own code (``detect_series``) at the default sensitivity
  writes one JSON per series and the shared scorer ``nab_score.py`` scores the folder (all three
  NAB profiles).
- Sensitivity sweep and leave-one-out: for each series, the sensitivity that scores best on the
  other four (standard profile) is used to score the held-out one, normalised on its own windows.
  The scorer's own functions are imported for this, so the numbers are the scorer's.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from lastmile.listening.anomaly.cli import detect_series, read_series  # noqa: E402
from lastmile.listening.anomaly.detector import (  # noqa: E402
    DEFAULT_SENSITIVITY,
    SpikeDetector,
)

SHARED = REPO.parent / "shared"
SWEEP = [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7]
PUBLISHED = {
    "contextOSE": 86.1,
    "ARTime": 82.0,
    "earthgeckoSkyline": 72.0,
    "Numenta HTM": 71.7,
    "knncad": 70.5,
    "windowedGaussian": 56.2,
    "null": 0.0,
}


def load_scorer(path: Path):
    spec = importlib.util.spec_from_file_location("nab_score", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def throughput(series: dict[str, list]) -> tuple[float, int]:
    values = [v for rows in series.values() for _s, _e, v in rows]
    epochs = [e for rows in series.values() for _s, e, _v in rows]
    best = float("inf")
    for _ in range(5):
        detector = SpikeDetector()
        update = detector.update
        started = time.perf_counter()
        for value, epoch in zip(values, epochs, strict=True):
            update(value, epoch)
        best = min(best, time.perf_counter() - started)
    return len(values) / best, len(values)


def official_scores(data: Path, scorer: Path, series: dict[str, list]) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        for stem, rows in series.items():
            out = detect_series(rows, DEFAULT_SENSITIVITY)
            (Path(folder) / f"{stem}.json").write_text(json.dumps(out))
        result = subprocess.run(
            [sys.executable, str(scorer), "--data", str(data), "--detections", folder, "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(result.stdout[: result.stdout.rindex("}") + 1])


def alerts_at(rows: list, sensitivity: float) -> set[int]:
    detector = SpikeDetector(sensitivity=sensitivity)
    update = detector.update
    return {i for i, (_s, epoch, value) in enumerate(rows) if update(value, epoch)[1]}


def sweep_and_loo(nab, data: Path, series: dict[str, list]) -> tuple[list, list]:
    windows = {Path(k).name: v for k, v in json.loads((data / "windows.json").read_text()).items()}
    weights = {}
    for stem, rows in series.items():
        times = [nab.parse_time(s) for s, _e, _v in rows]
        weights[stem] = nab.row_weights(times, windows[f"{stem}.csv"])
    alerts = {(stem, s): alerts_at(rows, s) for stem, rows in series.items() for s in SWEEP}

    def normalised(stems, sensitivity, profile="standard"):
        cost = nab.PROFILES[profile]
        total = sum(
            nab.raw_score(*weights[stem], alerts[(stem, sensitivity)], cost)[0] for stem in stems
        )
        n = sum(weights[stem][1] for stem in stems)
        return 100.0 * (total + cost["fn"] * n) / (cost["tp"] * n + cost["fn"] * n)

    stems = sorted(series)
    sweep = [
        {"sensitivity": s, **{p: round(normalised(stems, s, p), 2) for p in nab.PROFILES}}
        for s in SWEEP
    ]
    loo = []
    for held in stems:
        rest = [s for s in stems if s != held]
        chosen = max(SWEEP, key=lambda s: (normalised(rest, s), -abs(s - DEFAULT_SENSITIVITY)))
        loo.append(
            {
                "held_out": held,
                "chosen_sensitivity": chosen,
                "held_out_score": round(normalised([held], chosen), 2),
                "held_out_score_at_default": round(normalised([held], DEFAULT_SENSITIVITY), 2),
            }
        )
    return sweep, loo


def write_markdown(path: Path, result: dict) -> None:
    scores = result["official"]["scores"]
    lines = [
        "# Spike detector: throughput and NAB scores",
        "",
        "Written by `bench/anomaly.py` (the lead folds it into bench/RESULTS.md). Method: the",
        "docstring of `lastmile.listening.anomaly` (log counts, week-long level + shrunk",
        "time-of-day profile, running mean absolute deviation, 15-minute evidence EWMA, robust",
        "clipped updates, one alert then one day of quiet).",
        "",
        f"- Throughput: **{result['anomaly_buckets_per_s']:,.0f} buckets/s** on one core "
        f"(bare update loop over {result['buckets']:,} buckets, best of 5; target >= 100,000).",
        f"- NAB on the five shared realTweets series at the default sensitivity "
        f"({DEFAULT_SENSITIVITY}), scored by `nab_score.py`: standard **{scores['standard']}**, "
        f"low-FP {scores['reward_low_FP_rate']}, low-FN {scores['reward_low_FN_rate']}.",
        "",
        "Published standard scores, as the data folder's README lists them (normalised over five realTweets files; the README's wording leaves open whether these are the shared five or the five held out): "
        + ", ".join(f"{k} {v}" for k, v in PUBLISHED.items())
        + ".",
        "",
        "## Per series (default sensitivity)",
        "",
        "| series | raw standard | windows hit | false alerts |",
        "|---|---|---|---|",
    ]
    for stem, info in result["official"]["per_series"].items():
        lines.append(
            f"| {stem} | {info['standard']:+.3f} | {info['windows_detected']}/{info['windows']}"
            f" | {info['false_alerts']} |"
        )
    lines += [
        "",
        "## Sensitivity sweep (all five series)",
        "",
        "| sensitivity | standard | low FP | low FN |",
        "|---|---|---|---|",
    ]
    for row in result["sweep"]:
        lines.append(
            f"| {row['sensitivity']} | {row['standard']:.2f} | {row['reward_low_FP_rate']:.2f}"
            f" | {row['reward_low_FN_rate']:.2f} |"
        )
    lines += [
        "",
        "## Leave one out (sensitivity chosen on four series, the fifth scored alone)",
        "",
        "| held out | chosen sensitivity | held-out standard | held-out at default |",
        "|---|---|---|---|",
    ]
    for row in result["leave_one_out"]:
        lines.append(
            f"| {row['held_out']} | {row['chosen_sensitivity']} | {row['held_out_score']:.2f}"
            f" | {row['held_out_score_at_default']:.2f} |"
        )
    lines += [
        "",
        f"Mean held-out standard score: {result['leave_one_out_mean']:.2f} "
        f"(at the default: {result['leave_one_out_mean_at_default']:.2f}). A single window is",
        "worth about 7 points over five series, so neighbouring sensitivities differ by a few",
        "points. The default is kept in the middle of the plateau of sensitivities that beat",
        "Numenta HTM rather than on its best point next to a cliff (see the sweep), because it",
        "is scored on series it was not tuned on. The detector's other constants were chosen on",
        "all five series, so the leave-one-out check covers the sensitivity only.",
        "",
    ]
    path.write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "nab-realtweets")
    parser.add_argument("--scorer", type=Path, default=SHARED / "tools" / "nab_score.py")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/ANOMALY.md")
    args = parser.parse_args()

    series = {path.stem: read_series(path) for path in sorted(args.data.glob("*.csv"))}
    rate, buckets = throughput(series)
    official = official_scores(args.data, args.scorer, series)
    sweep, loo = sweep_and_loo(load_scorer(args.scorer), args.data, series)
    result = {
        "anomaly_buckets_per_s": round(rate),
        "buckets": buckets,
        "default_sensitivity": DEFAULT_SENSITIVITY,
        "nab_standard": official["scores"]["standard"],
        "nab_low_fp": official["scores"]["reward_low_FP_rate"],
        "nab_low_fn": official["scores"]["reward_low_FN_rate"],
        "official": official,
        "sweep": sweep,
        "leave_one_out": loo,
        "leave_one_out_mean": round(sum(r["held_out_score"] for r in loo) / len(loo), 2),
        "leave_one_out_mean_at_default": round(
            sum(r["held_out_score_at_default"] for r in loo) / len(loo), 2
        ),
    }
    if not args.no_write:
        write_markdown(Path(__file__).resolve().parent / "ANOMALY.md", result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
