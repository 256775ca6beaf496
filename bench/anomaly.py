"""Spike detector bench: NAB scores held out (leave one series out) and in-sample, false alerts
per labelled window, throughput beside a bare loop, and the state's size.

    .venv/bin/python bench/anomaly.py [--data DIR] [--scorer FILE] [--no-write]
                                      [--baseline-commit REV]

Prints one JSON object and writes bench/ANOMALY.md (how each figure is obtained is written
there too).

- Leave one series out (the headline): for each of the five shared realTweets series, the
  sensitivity is chosen on the other four only (grid ``GRID``; the point whose standard score,
  averaged with its two grid neighbours', is highest on the four: a plateau, not a spike),
  and the held-out series is run at it. The five held-out runs' detections go into one folder,
  which ``nab_score.py`` scores like any other (all three profiles, normalised over the five).
- In-sample: ``lastmile listen detect``'s own code (``detect_series``) at the default
  sensitivity on all five series, scored by ``nab_score.py`` (the default was chosen on them).
- False alerts per labelled window: alerts outside every window, after NAB's probation,
  divided by the number of labelled windows (15), as ``nab_score.py`` counts them.
- Throughput: the bare ``SpikeDetector.update`` loop over the five series concatenated (about
  79,000 buckets), best of five, one core; beside it in the same run a bare Python loop that
  keeps a rolling mean (EWMA) over the same buckets, the cheapest online detector there is.
- The previous detector (``--baseline-commit``, read with ``git show``) is run through the
  same protocol, so "before" and "after" are measured the same way in the same run.
- Robustness check (no figure row, ANOMALY.md only): both detectors at their default on
  binomially thinned copies of the series (quieter tickers), false alerts per window.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from lastmile.listening.anomaly.cli import detect_series, read_series  # noqa: E402
from lastmile.listening.anomaly.detector import (  # noqa: E402
    DEFAULT_SENSITIVITY,
    SpikeDetector,
)

SHARED = REPO.parent / "shared"
# The sensitivities leave-one-out chooses from (the only thing chosen by scoring).
GRID = [0.4, 0.425, 0.45, 0.475, 0.5, 0.525, 0.55, 0.575, 0.6]
BASELINE_COMMIT = "59d99b2"  # the detector before the daily-peak calibration (issue 18)
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
PUBLISHED = {  # NAB's published detectors on the shared five, as the data README lists them
    "contextOSE": 86.1,
    "ARTime": 82.0,
    "earthgeckoSkyline": 72.0,
    "Numenta HTM": 71.7,
    "knncad": 70.5,
    "windowedGaussian": 56.2,
}


def load_module(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def baseline_detector(commit: str) -> type | None:
    """The SpikeDetector class as it was at ``commit``, or None without git history."""
    proc = subprocess.run(
        ["git", "show", f"{commit}:src/lastmile/listening/anomaly/detector.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "baseline_detector.py"
        path.write_text(proc.stdout)
        return load_module("baseline_detector", path).SpikeDetector


def throughput(series: dict[str, list]) -> dict:
    values = [v for rows in series.values() for _s, _e, v in rows]
    epochs = [e for rows in series.values() for _s, e, _v in rows]
    best, floor = float("inf"), float("inf")
    for _ in range(5):
        detector = SpikeDetector()
        update = detector.update
        started = time.perf_counter()
        for value, epoch in zip(values, epochs, strict=True):
            update(value, epoch)
        best = min(best, time.perf_counter() - started)
        # The floor: a rolling mean and an above-the-mean test, in the same kind of loop.
        mean, alerts = 0.0, 0
        started = time.perf_counter()
        for value, _epoch in zip(values, epochs, strict=True):
            mean += 0.01 * (value - mean)
            if value > 2.0 * mean:
                alerts += 1
        floor = min(floor, time.perf_counter() - started)
    detector = SpikeDetector()
    for value, epoch in zip(values, epochs, strict=True):
        detector.update(value, epoch)
    return {
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "anomaly_buckets_per_s": round(len(values) / best),
        "anomaly_floor_buckets_per_s": round(len(values) / floor),
        "anomaly_cost_x": round(best / floor, 2),
        "anomaly_state_bytes": len(detector.to_json()),
        "buckets": len(values),
    }


class Study:
    """Detections of one detector class per (series, sensitivity), and their NAB scores on any
    subset of the series, computed with the scorer's own functions."""

    def __init__(self, nab, data: Path, series: dict[str, list], make: Callable[[float], object]):
        self.nab = nab
        self.series = {s.name: s for s in nab.load_data(data)}
        self.rows = series
        self.make = make
        self.alerts: dict[tuple[str, float], set[int]] = {}

    def alerts_at(self, stem: str, sensitivity: float) -> set[int]:
        key = (stem, sensitivity)
        if key not in self.alerts:
            update = self.make(sensitivity).update
            self.alerts[key] = {
                i for i, (_s, epoch, value) in enumerate(self.rows[stem]) if update(value, epoch)[1]
            }
        return self.alerts[key]

    def score(self, choice: dict[str, float], profile: str = "standard") -> float:
        """NAB's normalised score over the series in ``choice`` (stem -> sensitivity)."""
        cost = self.nab.PROFILES[profile]
        raw = windows = scored = 0.0
        for stem, sensitivity in choice.items():
            series = self.series[stem]
            raw += series.score(self.alerts_at(stem, sensitivity), cost)[0]
            windows += len(series.spans)
            scored += len(series.scored_windows)
        null, perfect = -cost["fn"] * scored, cost["tp"] * windows
        return 100.0 * (raw - null) / (perfect - null)

    def false_alerts(self, choice: dict[str, float]) -> tuple[int, int]:
        found = windows = 0
        for stem, sensitivity in choice.items():
            series = self.series[stem]
            found += series.score(self.alerts_at(stem, sensitivity), self.nab.PROFILES["standard"])[
                1
            ]["false_alerts"]
            windows += len(series.spans)
        return found, windows

    def choose(self, stems: list[str]) -> float:
        """The sensitivity a user tuning on ``stems`` would pick: best plateau of the grid."""
        plain = [self.score(dict.fromkeys(stems, s)) for s in GRID]
        smooth = []
        for i in range(len(GRID)):
            near = plain[max(0, i - 1) : i + 2]
            smooth.append(sum(near) / len(near))
        best = max(range(len(GRID)), key=lambda i: (smooth[i], -abs(GRID[i] - DEFAULT_SENSITIVITY)))
        return GRID[best]

    def leave_one_out(self) -> list[dict]:
        stems = sorted(self.rows)
        folds = []
        for held in stems:
            chosen = self.choose([s for s in stems if s != held])
            folds.append({"held_out": held, "chosen_sensitivity": chosen})
        return folds


THINNING = (0.5, 0.25)  # the robustness check: each mention kept with this probability


def thinned(series: dict[str, list], keep: float, seed: int = 18) -> dict[str, list]:
    """The series as a quieter ticker would give them: each mention kept with probability
    ``keep`` (binomial thinning, fixed seed), timestamps and windows unchanged."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = {}
    for stem, rows in series.items():
        counts = rng.binomial(np.array([int(v) for _s, _e, v in rows]), keep)
        out[stem] = [(s, e, float(c)) for (s, e, _v), c in zip(rows, counts, strict=True)]
    return out


def robustness(nab, data: Path, series: dict, makers: dict[str, Callable]) -> list[dict]:
    """Each detector at its default sensitivity on thinned copies of the series."""
    rows = []
    for keep in THINNING:
        quiet = thinned(series, keep)
        for name, make in makers.items():
            study = Study(nab, data, quiet, make)
            choice = dict.fromkeys(quiet, DEFAULT_SENSITIVITY)
            found, windows = study.false_alerts(choice)
            rows.append(
                {
                    "keep": keep,
                    "detector": name,
                    **{p: round(study.score(choice, p), 2) for p in PROFILES},
                    "false_per_window": round(found / windows, 2),
                }
            )
    return rows


def scorer_json(scorer: Path, data: Path, folder: Path) -> dict:
    result = subprocess.run(
        [sys.executable, str(scorer), "--data", str(data), "--detections", str(folder), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout[: result.stdout.rindex("}") + 1])


def score_choice(
    scorer: Path, data: Path, series: dict[str, list], choice: dict[str, float], make
) -> dict:
    """Run the detector on each series at its sensitivity and score the folder with nab_score."""
    with tempfile.TemporaryDirectory() as folder:
        for stem, rows in series.items():
            if make is None:  # the product's own code path
                out = detect_series(rows, choice[stem])
            else:
                update = make(choice[stem]).update
                out = {"detections": [s for s, e, v in rows if update(v, e)[1]]}
            (Path(folder) / f"{stem}.json").write_text(json.dumps(out))
        return scorer_json(scorer, data, Path(folder))


def false_per_window(official: dict) -> float:
    per = official["per_series"].values()
    return round(sum(p["false_alerts"] for p in per) / sum(p["windows"] for p in per), 2)


def evaluate(nab, scorer: Path, data: Path, series: dict, make, product: bool) -> dict:
    """Leave-one-out and in-sample figures of one detector, all scored by nab_score.py."""
    study = Study(nab, data, series, make)
    folds = study.leave_one_out()
    loso_choice = {f["held_out"]: f["chosen_sensitivity"] for f in folds}
    for fold in folds:
        only = {fold["held_out"]: fold["chosen_sensitivity"]}
        fold["held_out_standard"] = round(study.score(only), 2)
        fold["false_alerts"] = study.false_alerts(only)[0]
    loso = score_choice(scorer, data, series, loso_choice, None if product else make)
    default = dict.fromkeys(series, DEFAULT_SENSITIVITY)
    in_sample = score_choice(scorer, data, series, default, None if product else make)
    sweep = [
        {
            "sensitivity": s,
            **{p: round(study.score(dict.fromkeys(series, s), p), 2) for p in PROFILES},
            "false_per_window": round(
                study.false_alerts(dict.fromkeys(series, s))[0]
                / study.false_alerts(dict.fromkeys(series, s))[1],
                2,
            ),
        }
        for s in GRID
    ]
    return {"folds": folds, "loso": loso, "in_sample": in_sample, "sweep": sweep}


def write_markdown(path: Path, result: dict) -> None:
    after, before = result["after"], result.get("before")
    lines = [
        "# Spike detector: NAB scores held out and in-sample, false alerts, throughput",
        "",
        "Written by `bench/anomaly.py` (`make bench` runs it; `.venv/bin/python bench/anomaly.py`",
        "alone). Method: the docstring of `lastmile.listening.anomaly` (log counts, week-long",
        "level + time-of-day profile, running mean absolute deviation, 15-minute evidence, each",
        "series' typical daily peak of that evidence as its yardstick, one alert then a day of",
        "quiet). Data: NAB's five shared realTweets series (`../shared/data/nab-realtweets`, 15",
        "labelled windows); scorer: `../shared/tools/nab_score.py` (NAB's scoring, normalised",
        "over the five series).",
        "",
        "## Figures",
        "",
        "| figure | standard | low FP | low FN | false alerts / window |",
        "|---|---|---|---|---|",
    ]

    def row(label: str, official: dict) -> str:
        s = official["scores"]
        return (
            f"| {label} | **{s['standard']}** | {s['reward_low_FP_rate']} | "
            f"{s['reward_low_FN_rate']} | {false_per_window(official)} |"
        )

    lines.append(row("**held out** (leave one series out), this detector", after["loso"]))
    lines.append(row("in-sample (default sensitivity, chosen on these five)", after["in_sample"]))
    if before is not None:
        lines.append(
            row(f"held out, previous detector ({result['baseline_commit']})", before["loso"])
        )
        lines.append(row("in-sample, previous detector", before["in_sample"]))
    lines += [
        "",
        f"- Throughput: **{result['anomaly_buckets_per_s']:,} buckets/s** on one core "
        f"(bare `update` loop over {result['buckets']:,} buckets, best of 5; target > 100,000). "
        f"In the same run a bare rolling-mean loop over the same buckets does "
        f"{result['anomaly_floor_buckets_per_s']:,}/s: the detector costs "
        f"{result['anomaly_cost_x']}x that floor. Load average when measured: "
        f"{', '.join(str(x) for x in result['loadavg'])} on {os.cpu_count()} cores (other work "
        "on the machine lowers both figures; the ratio moves less).",
        f"- State: {result['anomaly_state_bytes']:,} bytes of JSON (`to_json()`), whatever the "
        "history's length; `from_json()` resumes bit for bit (tests/listening/test_anomaly.py).",
        "",
        "How each figure is obtained:",
        "",
        "- **Held out (leave one series out)**: for each series in turn, the sensitivity is",
        f"  chosen using only the other four: the point of the grid {GRID} whose NAB standard",
        "  score on the four, averaged with its two grid neighbours' (a plateau, not a lucky",
        "  point), is highest. The held-out series is run at that sensitivity. The five held-out",
        "  runs' detections are written to one folder and `nab_score.py --json` scores it (all",
        "  three profiles, normalised over the five series as for any detector). Nothing about a",
        "  held-out series is used in its own run.",
        "- **In-sample**: the default sensitivity on all five series (`detect_series`, the code",
        "  `lastmile listen detect` runs), scored by `nab_score.py`. The default is what the",
        "  leave-one-out rule picks on all five, so this figure has seen the data it is scored on.",
        "- **False alerts per labelled window**: alerts that fall outside every labelled window",
        "  (after NAB's probationary first 750 rows, as `nab_score.py` counts `false_alerts`),",
        "  summed over the five series and divided by their 15 labelled windows. An alert inside",
        "  a window is never false, even a second one.",
        "- **Previous detector**: the same protocol, same grid and same scorer, on the detector",
        f"  as it was at commit {result['baseline_commit']} (read with `git show`).",
        "",
        "What the leave-one-out figure does not cover: it re-chooses the sensitivity (the only",
        "constant chosen by scoring) per fold. The rest of the design (log counts, the week-long",
        "level, the evidence span, the daily-peak yardstick and its floor of 2 spreads, a day of",
        "quiet after an alert) was settled by looking at all five series (so were the previous",
        "detector's constants), so the held-out figure is still optimistic for series never",
        "seen; it is the honest one of the two here, not a promise.",
        "A single window is worth about 7 points over five series.",
        "",
        "Published detectors on these five series (the data folder's README; NAB's thresholds,",
        "which NAB tuned on its whole corpus, these files included): "
        + ", ".join(f"{k} {v}" for k, v in PUBLISHED.items())
        + ".",
        "",
        "## Leave one series out, fold by fold",
        "",
        "| held out | sensitivity chosen on the other four | held-out standard (own windows) "
        "| false alerts | previous detector: chosen, standard, false alerts |",
        "|---|---|---|---|---|",
    ]
    old_folds = {f["held_out"]: f for f in before["folds"]} if before is not None else {}
    for fold in after["folds"]:
        was = old_folds.get(fold["held_out"])
        then = (
            f"{was['chosen_sensitivity']}, {was['held_out_standard']:.2f}, {was['false_alerts']}"
            if was
            else "—"
        )
        lines.append(
            f"| {fold['held_out']} | {fold['chosen_sensitivity']} | "
            f"{fold['held_out_standard']:.2f} | {fold['false_alerts']} | {then} |"
        )
    if result.get("robustness"):
        lines += [
            "",
            "## Robustness check: quieter series (not a held-out figure)",
            "",
            "Each mention of the five series kept with probability 0.5 or 0.25 (binomial",
            "thinning, seed 18), as a quieter ticker would give them; same windows, each",
            "detector at its default sensitivity, scored with the scorer's own functions. The",
            "windows were drawn on the full series, so this only shows how each detector's",
            "false alerts move when the volume falls; it tunes nothing.",
            "",
            "| kept | detector | standard | low FP | low FN | false alerts / window |",
            "|---|---|---|---|---|---|",
        ]
        for r in result["robustness"]:
            lines.append(
                f"| {r['keep']} | {r['detector']} | {r['standard']:.2f} | "
                f"{r['reward_low_FP_rate']:.2f} | {r['reward_low_FN_rate']:.2f} | "
                f"{r['false_per_window']:.2f} |"
            )
    lines += [
        "",
        "## Per series, in-sample (default sensitivity)",
        "",
        "| series | raw standard | windows hit | false alerts |",
        "|---|---|---|---|",
    ]
    for stem, info in after["in_sample"]["per_series"].items():
        lines.append(
            f"| {stem} | {info['standard']:+.3f} | {info['windows_detected']}/{info['windows']}"
            f" | {info['false_alerts']} |"
        )
    lines += [
        "",
        "## Sensitivity sweep, all five series (in-sample)",
        "",
        "| sensitivity | standard | low FP | low FN | false alerts / window |",
        "|---|---|---|---|---|",
    ]
    for r in after["sweep"]:
        lines.append(
            f"| {r['sensitivity']} | {r['standard']:.2f} | {r['reward_low_FP_rate']:.2f} | "
            f"{r['reward_low_FN_rate']:.2f} | {r['false_per_window']:.2f} |"
        )
    lines += [
        "",
        "Below the plateau the score falls off a cliff (windows are missed, each worth about 7",
        "points); above it, it falls slowly (false alerts, 0.11 to 0.22 of a window each). The",
        "rule's choice sits on the sensitive side of the plateau's best point, where an error",
        "on unseen series costs false alerts rather than windows.",
        "",
        "In the product the crisis room adds its own grouping on top of the detector's day of",
        "quiet: every signal of a watch term that fires within a day of an open alert's latest",
        "firing joins that alert (`lastmile.crisis.services.triggers`, tests/crisis/",
        "test_crisis_burst.py), so a burst is one incident, one acknowledgement loop and one",
        "message to the lead.",
        "",
    ]
    path.write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "nab-realtweets")
    parser.add_argument("--scorer", type=Path, default=SHARED / "tools" / "nab_score.py")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/ANOMALY.md")
    parser.add_argument("--baseline-commit", default=BASELINE_COMMIT)
    args = parser.parse_args()

    series = {path.stem: read_series(path) for path in sorted(args.data.glob("*.csv"))}
    nab = load_module("nab_score", args.scorer)
    speed = throughput(series)
    after = evaluate(
        nab, args.scorer, args.data, series, lambda s: SpikeDetector(sensitivity=s), True
    )
    old = baseline_detector(args.baseline_commit)
    before = None
    if old is not None:
        before = evaluate(nab, args.scorer, args.data, series, lambda s: old(sensitivity=s), False)
    result = {
        **speed,
        "default_sensitivity": DEFAULT_SENSITIVITY,
        "nab_loso_standard": after["loso"]["scores"]["standard"],
        "nab_loso_low_fp": after["loso"]["scores"]["reward_low_FP_rate"],
        "nab_loso_low_fn": after["loso"]["scores"]["reward_low_FN_rate"],
        "anomaly_false_per_window": false_per_window(after["loso"]),
        "nab_standard": after["in_sample"]["scores"]["standard"],
        "nab_low_fp": after["in_sample"]["scores"]["reward_low_FP_rate"],
        "nab_low_fn": after["in_sample"]["scores"]["reward_low_FN_rate"],
        "anomaly_false_per_window_in_sample": false_per_window(after["in_sample"]),
        "baseline_commit": args.baseline_commit,
        "after": after,
    }
    if before is not None:
        result.update(
            {
                "before_nab_loso_standard": before["loso"]["scores"]["standard"],
                "before_nab_loso_low_fp": before["loso"]["scores"]["reward_low_FP_rate"],
                "before_nab_loso_low_fn": before["loso"]["scores"]["reward_low_FN_rate"],
                "before_false_per_window": false_per_window(before["loso"]),
                "before_nab_standard": before["in_sample"]["scores"]["standard"],
                "before_false_per_window_in_sample": false_per_window(before["in_sample"]),
                "before": before,
            }
        )
    makers: dict[str, Callable] = {"this detector": lambda s: SpikeDetector(sensitivity=s)}
    if old is not None:
        makers[f"previous ({args.baseline_commit})"] = lambda s: old(sensitivity=s)
    result["robustness"] = robustness(nab, args.data, series, makers)
    if not args.no_write:
        write_markdown(Path(__file__).resolve().parent / "ANOMALY.md", result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
