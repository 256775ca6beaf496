"""Cross-validate the sentiment cascade (``lastmile.sentiment.cascade``) on the 5 folds.

    python bench/sentiment_cascade.py --logits DIR [--data DIR]

``DIR`` holds ``fold1.npz`` … ``fold5.npz``, the held-out logits of the fine-tuned encoder
that ``python -m lastmile.sentiment.finetune --fold K --layers 3 --logits DIR/foldK.npz``
writes (the shipped recipe, one fit per fold). The linear model is fitted here on each fold's
complement with the training's own ``fit`` (``python -m lastmile.sentiment.train``'s final
settings) and scored on the held-out fold, as ``--folds 5`` does.

For each fold the cascade keeps the linear answer where the linear model's top probability is
at least the threshold, else takes the encoder's. The threshold is chosen **on the other four
folds** and only then scored on the held-out fold: the cross-validated figure. The rule: the
lowest threshold of a fixed grid whose mean macro-recall on the other folds is within
``--tolerance`` (default 0.1 point) of the best there, since every text the encoder reads
costs; ``per_fold_best`` gives the same with no tolerance (the best alone). The share of texts
the encoder read is reported beside each (what the cascade's speed follows). Prints one JSON
object; the encoder figures are PyTorch's float model, as in the encoder's own CV rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from lastmile.sentiment import train as T  # noqa: E402
from lastmile.sentiment.model import probabilities  # noqa: E402

GRID = [round(x, 2) for x in np.arange(0.40, 0.96, 0.05)]


def linear_folds(texts: list[str], labels: list[int], folds: int) -> list[dict[str, Any]]:
    """Per fold: held-out indices and the linear model's class probabilities on them."""
    spec = T.FINAL
    table = T.teacher_table(spec["static"])
    feats, extra = T._features_for(texts, spec["opts"], table)

    part = T.split_maker(feats, extra, labels)
    out = []
    for fit_idx, held_idx in T.stratified_folds(labels, folds):
        vec, clf, _ = T.fit(spec, part(fit_idx), part(held_idx))
        held = part(held_idx)
        proba = clf.predict_proba(T._with_dense(vec.transform(held[0]), held[1]))
        out.append({"held": np.asarray(held_idx), "proba": proba})
    return out


def cascade_recall(gold: list[int], lin: Any, enc: Any, threshold: float) -> tuple[float, float]:
    unsure = lin.max(axis=1) < threshold
    pred = np.where(unsure, enc.argmax(axis=1), lin.argmax(axis=1))
    return T.macro_recall(gold, pred.tolist())[0], float(unsure.mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--logits", type=Path, required=True, help="folder of foldK.npz")
    ap.add_argument("--data", type=Path, default=T.DEFAULT_DATA)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument(
        "--tolerance",
        type=float,
        default=0.001,
        help="macro-recall a cheaper threshold may give up against the best (default 0.001)",
    )
    ap.add_argument(
        "--linear-cache",
        type=Path,
        help="keep the linear model's held-out probabilities in this .npz (read if it exists)",
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    train_text, train_y = T.load_split(args.data, "train")
    val_text, val_y = T.load_split(args.data, "val")
    texts, labels = train_text + val_text, train_y + val_y
    if args.linear_cache and args.linear_cache.exists():
        with np.load(args.linear_cache) as z:
            lin = [{"held": z[f"held{k}"], "proba": z[f"proba{k}"]} for k in range(args.folds)]
    else:
        lin = linear_folds(texts, labels, args.folds)
        if args.linear_cache:
            np.savez(
                args.linear_cache,
                **{f"held{k}": f["held"] for k, f in enumerate(lin)},
                **{f"proba{k}": f["proba"] for k, f in enumerate(lin)},
            )
    if not (args.logits / "fold1.npz").exists():
        print(f"no {args.logits}/fold1.npz: the linear folds only", file=sys.stderr)
        return 0
    folds = []
    for k, lf in enumerate(lin, start=1):
        z = np.load(args.logits / f"fold{k}.npz")
        if not np.array_equal(z["held"], lf["held"]):
            raise SystemExit(f"fold{k}.npz: not the held-out texts of fold {k}")
        gold = [labels[i] for i in lf["held"]]
        enc = probabilities(z["logits"])
        folds.append(
            {
                "gold": gold,
                "lin": lf["proba"],
                "enc": enc,
                "grid": {t: cascade_recall(gold, lf["proba"], enc, t) for t in GRID},
                "linear": T.macro_recall(gold, lf["proba"].argmax(axis=1).tolist())[0],
                "encoder": T.macro_recall(gold, enc.argmax(axis=1).tolist())[0],
            }
        )

    def held_out(tolerance: float) -> list[dict[str, Any]]:
        rows = []
        for k, f in enumerate(folds, start=1):
            others = [g for j, g in enumerate(folds, start=1) if j != k]
            mean = {t: statistics.mean(g["grid"][t][0] for g in others) for t in GRID}
            best = max(mean.values())
            chosen = min(t for t in GRID if mean[t] >= best - tolerance)
            mr, share = f["grid"][chosen]
            rows.append(
                {
                    "fold": k,
                    "threshold": chosen,
                    "macro_recall": round(mr, 4),
                    "encoder_share": round(share, 4),
                    "encoder_alone": round(f["encoder"], 4),
                    "linear_alone": round(f["linear"], 4),
                }
            )
        return rows

    rows, best_rows = held_out(args.tolerance), held_out(0.0)
    grid = {
        str(t): {
            "macro_recall": round(statistics.mean(f["grid"][t][0] for f in folds), 4),
            "encoder_share": round(statistics.mean(f["grid"][t][1] for f in folds), 4),
        }
        for t in GRID
    }

    def mean_sd(key: str, of: list[dict[str, Any]] | None = None) -> dict[str, float]:
        values = [r[key] for r in (rows if of is None else of)]
        return {"mean": round(statistics.mean(values), 4), "sd": round(statistics.stdev(values), 4)}

    print(
        json.dumps(
            {
                "command": "python bench/sentiment_cascade.py --logits DIR",
                "folds": args.folds,
                "seed": T.SEED,
                "tolerance": args.tolerance,
                "per_fold": rows,
                "per_fold_best": best_rows,
                "best_macro_recall": mean_sd("macro_recall", best_rows),
                "best_encoder_share": mean_sd("encoder_share", best_rows),
                "macro_recall": mean_sd("macro_recall"),
                "encoder_share": mean_sd("encoder_share"),
                "encoder_alone": mean_sd("encoder_alone"),
                "linear_alone": mean_sd("linear_alone"),
                "grid_mean_over_folds": grid,
                "elapsed_s": round(time.perf_counter() - t0),
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
