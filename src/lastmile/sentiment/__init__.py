"""Sentiment (negative / neutral / positive) with the models shipped in this package.

``predict(texts)`` → ``[(label, score), …]`` where score = p(positive) − p(negative) in
[-1, 1]; ``predict_one(text)`` for one text. The model is the one ``LASTMILE_SENTIMENT_MODEL``
names: ``encoder`` (the default; all-MiniLM-L6-v2 cut to three layers and fine-tuned, int8
ONNX in ``encoder/``, run by onnxruntime), ``linear`` (n-grams, VADER and static word
vectors in ``model.npz``, run by numpy) or ``cascade`` (the linear model, and the encoder for
the texts it is unsure of). Each is loaded on first use and kept for the life of the process;
nothing is downloaded.
"""

from lastmile.sentiment.model import LABELS, get_model, predict, predict_one

__all__ = ["LABELS", "get_model", "predict", "predict_one"]
