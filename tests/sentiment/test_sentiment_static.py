"""The static word vectors: the training side (``train.StaticTable``) and the numpy-only
inference (``model.Model``) must give the same decision for the same words.

A tiny hand-made table stands in for the teacher (whose PyTorch model only the ``train``
extra installs), so these run under ``make test``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lastmile.sentiment.model import Model, static_keys, tokens
from lastmile.sentiment.train import BASELINE, FINAL, StaticTable, _features_for, export, fit

TEXTS = {
    0: ["awful service, I hate it", "worst delay ever, so angry", "not happy, terrible"],
    1: ["the bus leaves at nine", "my order number is 42", "shop opens on monday"],
    2: ["I love this, great job", "best support ever, thanks", "wonderful, so happy"],
}
WORDS = ["angry", "awful", "great", "happy", "hate", "love", "monday", "nine", "terrible"]


def tiny_table(dims: int = 3, scale: float = 1.0) -> StaticTable:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(len(WORDS), 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return StaticTable(WORDS, vectors, dims, scale)


def test_static_keys_are_plain_words_with_their_negation_scope() -> None:
    toks = tokens("i don't like #love, it's not 4 u :) @user", True)
    assert static_keys(toks) == [
        ("i", False),
        ("don't", False),
        ("like", True),
        ("love", False),  # tokens() leaves a hashtag unmarked
        ("it's", False),
        ("not", False),
        ("4", True),
        ("u", True),
    ]


def test_static_features_are_the_mean_vectors_outside_and_inside_negation() -> None:
    table = tiny_table(dims=3, scale=2.0)
    out = table.features(["love hate, not happy", "nothing known", ""], FINAL["opts"])
    v = table.vectors
    i = table.index
    assert out.shape == (3, 6)
    assert np.allclose(out[0, :3], (v[i["love"]] + v[i["hate"]]) / 2 * 2.0)
    assert np.allclose(out[0, 3:], v[i["happy"]] * 2.0)
    assert not out[1:].any()


def test_the_exported_model_decides_as_the_fitted_classifier(tmp_path: Path) -> None:
    # given a tiny model fitted with VADER and static features, exported to a .npz
    texts = [t for label in (0, 1, 2) for t in TEXTS[label] * 3]
    labels = [label for label in (0, 1, 2) for _ in range(9)]
    table = tiny_table()
    spec = {**FINAL, "min_df": 1}
    feats, extra = _features_for(texts, spec["opts"], table)
    vec, clf, figures = fit(spec, (feats, extra, labels), (feats, extra, labels))
    out = tmp_path / "model.npz"
    export(vec, clf, spec, figures, out, table)

    # when the numpy model scores new texts, some with words it has vectors for
    model = Model(out)
    new = ["so angry and terrible", "great, I love it", "not great", "opens monday at nine", ""]
    f2, e2 = _features_for(new, spec["opts"], table)
    from lastmile.sentiment.train import _with_dense

    expected = clf.decision_function(_with_dense(vec.transform(f2), e2))

    # then its decision is the classifier's (float32 weights in the artefact)
    assert model.static_vocab == table.index
    assert np.allclose(model.decision(new), expected, atol=1e-5)
    assert [label for label, _ in model.predict(new[:2])] == ["negative", "positive"]


def test_a_model_without_static_vectors_still_loads_and_decides(tmp_path: Path) -> None:
    texts = [t for label in (0, 1, 2) for t in TEXTS[label] * 3]
    labels = [label for label in (0, 1, 2) for _ in range(9)]
    spec = {**BASELINE, "min_df": 1}
    feats, extra = _features_for(texts, spec["opts"])
    vec, clf, figures = fit(spec, (feats, extra, labels), (feats, extra, labels))
    export(vec, clf, spec, figures, tmp_path / "m.npz")
    model = Model(tmp_path / "m.npz")
    assert model.static_pos is None and not model.static_vocab
    from lastmile.sentiment.train import _with_dense

    f2, e2 = _features_for(["so angry", "love it"], spec["opts"])
    assert np.allclose(
        model.decision(["so angry", "love it"]),
        clf.decision_function(_with_dense(vec.transform(f2), e2)),
        atol=1e-5,
    )
