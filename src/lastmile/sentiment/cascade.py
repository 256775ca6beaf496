"""The cascade: the linear model reads every text, and the fine-tuned encoder reads again only
those the linear model is unsure of.

The linear model (n-grams, VADER, static word vectors; numpy) costs about a tenth of the
encoder a text. Where its most likely class has a probability of at least ``THRESHOLD``
its answer stands; below that the encoder's answer replaces it. Each text's answer depends
on that text alone (both models are batch-independent), so a text gets the same label and
score alone or in any batch.

``THRESHOLD`` was chosen on fold 1 of the cross-validation split (``bench/SENTIMENT.md``:
the sweep over thresholds, and the cross-validated figure with the threshold picked on the
other folds). No weights of its own: it serves the two shipped artefacts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lastmile.sentiment.model import labelled, probabilities

THRESHOLD = 0.6  # the linear model's top class probability below which the encoder decides


class CascadeModel:
    """``linear`` first; ``encoder`` for the texts whose linear top probability is below
    ``threshold``. The same ``decision``/``predict`` as either model."""

    def __init__(self, linear: Any, encoder: Any, *, threshold: float = THRESHOLD) -> None:
        if tuple(linear.classes) != tuple(encoder.classes):
            raise RuntimeError(
                f"the two sentiment models disagree on their classes: {linear.classes} "
                f"against {encoder.classes}"
            )
        self.linear, self.encoder, self.threshold = linear, encoder, threshold
        self.classes: tuple[str, ...] = tuple(linear.classes)

    def _unsure(self, linear_scores: Any) -> Any:
        """Positions of the texts whose linear top-class probability is under the threshold."""
        import numpy as np

        if not len(linear_scores):
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(probabilities(linear_scores).max(axis=1) < self.threshold)

    def decision(self, texts: Iterable[str]) -> Any:
        """Class scores per text: the linear model's, or the encoder's where it was unsure."""
        import numpy as np

        texts = list(texts)
        out = np.asarray(self.linear.decision(texts), dtype=np.float64)
        unsure = self._unsure(out)
        if len(unsure):
            out[unsure] = self.encoder.decision([texts[i] for i in unsure])
        return out

    def encoder_share(self, texts: list[str]) -> float:
        """The share of ``texts`` the encoder would read (what the cascade's cost follows)."""
        return len(self._unsure(self.linear.decision(texts))) / len(texts) if texts else 0.0

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        """(label, p(positive) − p(negative)) per text, from whichever model decided it."""
        return labelled(self.decision(texts), self.classes)
