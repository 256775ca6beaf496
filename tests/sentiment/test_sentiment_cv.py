"""The sentiment model's cross-validation (``python -m lastmile.sentiment.train --folds K``).

The fold split and the end-to-end run need scikit-learn, which only the ``train`` extra
installs (``make train-sentiment``); ``make test`` installs ``dev``, so those tests are
skipped there with that reason. VADER's label mapping and the mean ± sd run everywhere.
"""

from __future__ import annotations

from collections import Counter

from lastmile.sentiment.train import FINAL, cross_validate, mean_sd, stratified_folds, vader_label
from tests.sentiment.test_sentiment_static import tiny_table


def test_vader_compound_maps_to_labels_at_the_standard_thresholds() -> None:
    assert [vader_label(c) for c in (-0.5, -0.05, -0.0499, 0.0, 0.0499, 0.05, 0.9)] == [
        0,
        0,
        1,
        1,
        1,
        2,
        2,
    ]


def test_mean_sd_is_the_mean_and_the_sample_standard_deviation() -> None:
    assert mean_sd([0.70, 0.72, 0.68, 0.71, 0.69]) == {"mean": 0.7, "sd": 0.0158}
    assert mean_sd([0.7]) == {"mean": 0.7, "sd": 0.0}


def test_folds_hold_out_every_text_once_with_each_class_in_proportion() -> None:
    # given 10 negative, 20 neutral and 15 positive labels, interleaved
    labels = [0] * 10 + [1] * 20 + [2] * 15
    labels = labels[::2] + labels[1::2]

    # when they are split into 5 folds
    folds = stratified_folds(labels, 5)

    # then every text is held out exactly once, never also in its fold's fit part,
    held = sorted(i for _, held_idx in folds for i in held_idx)
    assert held == list(range(len(labels)))
    for fit_idx, held_idx in folds:
        assert sorted([*fit_idx, *held_idx]) == list(range(len(labels)))
    # and each fold holds out a fifth of every class
    for _, held_idx in folds:
        assert Counter(labels[i] for i in held_idx) == {0: 2, 1: 4, 2: 3}


def test_folds_are_the_same_for_the_same_seed_and_differ_for_another() -> None:
    labels = [0, 1, 2, 1, 1, 2] * 10

    def held(seed: int) -> list[list[int]]:
        return [h.tolist() for _, h in stratified_folds(labels, 5, seed)]

    assert held(1) == held(1)
    assert held(1) != held(2)


TEXTS = {
    0: ["awful service, I hate it", "worst delay ever, so angry", "terrible, never again"],
    1: ["the bus leaves at nine", "my order number is 42", "shop opens on monday"],
    2: ["I love this, great job", "best support ever, thanks", "wonderful, so happy"],
}


def test_cross_validation_runs_the_shipped_settings_end_to_end_on_a_tiny_set() -> None:
    # given 36 short texts, 12 of each class
    texts = [t for label in (0, 1, 2) for t in TEXTS[label] * 4]
    labels = [label for label in (0, 1, 2) for _ in range(12)]

    # when the shipped settings are cross-validated in 3 folds, twice (with a hand-made
    # static table standing in for the teacher's, which needs the `train` extra)
    table = tiny_table()
    first = cross_validate(FINAL, texts, labels, folds=3, table=table)
    second = cross_validate(FINAL, texts, labels, folds=3, table=table)

    # then there is one row per fold, every text held out once,
    assert [r["fold"] for r in first["per_fold"]] == [1, 2, 3]
    assert sum(r["n_held_out"] for r in first["per_fold"]) == len(texts)
    assert all(r["n_fit"] + r["n_held_out"] == len(texts) for r in first["per_fold"])
    # the summary is the mean ± sd of the folds, for the model and for VADER,
    for key in ("macro_recall", "vader_macro_recall"):
        assert first[key] == mean_sd([r[key] for r in first["per_fold"]])
        assert 0.0 <= first[key]["mean"] <= 1.0
    assert first["spec"] == FINAL
    assert (first["folds"], first["stratified"], first["n_texts"]) == (3, True, 36)

    # and the figures are the same on the second run (only the fit times differ)
    def without_times(result: dict) -> dict:
        rows = [{k: v for k, v in r.items() if k != "fit_s"} for r in result["per_fold"]]
        return {**result, "per_fold": rows}

    assert without_times(first) == without_times(second)


def test_the_training_data_defaults_to_shared_data_beside_the_repository() -> None:
    from lastmile.sentiment import train
    from tests.conftest import REPO_ROOT

    assert REPO_ROOT.parent / "shared" / "data" / "tweeteval-sentiment" == train.DEFAULT_DATA
