"""Sentiment (negative / neutral / positive) with the model shipped in this package.

``predict(texts)`` → ``[(label, score), …]`` where score = p(positive) − p(negative) in
[-1, 1]; ``predict_one(text)`` for one text. The model (``model.npz``, numpy only, no
pickle) is loaded on first use and kept for the life of the process.
"""

from lastmile.sentiment.model import LABELS, get_model, predict, predict_one

__all__ = ["LABELS", "get_model", "predict", "predict_one"]
