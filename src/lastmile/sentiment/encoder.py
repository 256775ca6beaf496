"""The default sentiment model: all-MiniLM-L6-v2 cut to its first three layers, fine-tuned
for tweet sentiment, served by ONNX Runtime with int8 weights on one thread.

The int8 inputs of its projections have fixed scales, calibrated once on training texts, so a
text gets the same label and score alone or in any batch (dynamic quantisation would scale
each batch by its own range).

The artefact is the directory ``encoder/`` beside this module, written by
``python -m lastmile.sentiment.finetune --export`` (``make train-sentiment``):

- ``model.int8.onnx``: inputs ``ids`` and ``mask`` (int64, batch × tokens), output ``logits``
  (batch × 3, in the order of ``meta.json``'s ``labels``);
- ``tokenizer.json``: the teacher's WordPiece tokenizer, truncating at ``max_len`` tokens and
  not padding;
- ``meta.json``: labels, ``max_len``, how it was trained and the ONNX file's SHA-256.

Texts are cleaned as at training time (:func:`lastmile.sentiment.finetune.clean`'s rules,
kept here so that serving needs neither torch nor transformers), tokenised, sorted by length
and run in batches of ``BATCH``, so padding stays short. Nothing is downloaded: onnxruntime and
tokenizers are runtime dependencies, and the weights ship in the package.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lastmile.sentiment.model import _MENTION, _REPEAT, _SPACE, _URL, labelled, unescape

ARTEFACT_DIR = Path(__file__).resolve().parent / "encoder"
ONNX_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "meta.json"
BATCH = 8  # texts per run: about a tenth faster than 32 on one core (measured)


def clean(text: str) -> str:
    """Escapes undone, @user and URLs folded, long repeats cut to three, spaces squeezed; the
    case is kept (the tokenizer lowercases by itself)."""
    text = unescape(text)
    text = _URL.sub(" http ", text)
    text = _MENTION.sub("@user", text)
    text = _REPEAT.sub(r"\1\1\1", text)
    return _SPACE.sub(" ", text).strip()


def pad(seqs: list[list[int]]) -> tuple[Any, Any]:
    """(ids, attention mask) as int64 arrays, padded to the longest of ``seqs``."""
    import numpy as np

    width = max((len(s) for s in seqs), default=1) or 1
    ids = np.zeros((len(seqs), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = s
        mask[r, : len(s)] = 1
    return ids, mask


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class EncoderModel:
    """The int8 ONNX classifier, with the same ``predict`` as the linear :class:`Model`."""

    def __init__(self, directory: Path = ARTEFACT_DIR, *, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        missing = [
            name
            for name in (ONNX_FILE, TOKENIZER_FILE, META_FILE)
            if not (directory / name).is_file()
        ]
        if missing:
            raise RuntimeError(
                f"sentiment model incomplete: {', '.join(missing)} missing in {directory} "
                "(rebuild it with `make train-sentiment`)"
            )
        self.meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        self.classes: tuple[str, ...] = tuple(self.meta["labels"])
        self.max_len = int(self.meta["max_len"])
        self.tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_len)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # warnings about unused initialisers are not the user's
        self.session = ort.InferenceSession(
            str(directory / ONNX_FILE), opts, providers=["CPUExecutionProvider"]
        )

    def decision(self, texts: Iterable[str]) -> Any:
        """Class logits, one row of ``len(classes)`` per text, in the order given."""
        import numpy as np

        texts = list(texts)
        out = np.zeros((len(texts), len(self.classes)), dtype=np.float32)
        if not texts:
            return out
        seqs = [e.ids for e in self.tokenizer.encode_batch([clean(t) for t in texts])]
        order = sorted(range(len(seqs)), key=lambda j: len(seqs[j]))
        for i in range(0, len(order), BATCH):
            part = order[i : i + BATCH]
            ids, mask = pad([seqs[j] for j in part])
            (logits,) = self.session.run(["logits"], {"ids": ids, "mask": mask})
            out[part] = logits
        return out

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        """(label, p(positive) − p(negative)) per text, as the linear model gives them."""
        return labelled(self.decision(texts), self.classes)
