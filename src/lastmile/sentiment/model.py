"""Tweet sentiment: a TF-IDF (word + character n-grams) linear model, run with numpy (the
``linear`` model; the default is the fine-tuned encoder, :mod:`lastmile.sentiment.encoder`).
This module also picks the model (:func:`get_model`) and holds the public ``predict``.

The model also reads four VADER lexicon scores (compound, pos, neg, neu) of each text as dense
features: the lexicon carries sentiment knowledge the 47k training tweets do not
(+1.5 points of val macro-recall, see bench/SENTIMENT.md).

And it reads static word embeddings distilled from a sentence-embedding model
(all-MiniLM-L6-v2, at training time only): each known word's vector is the teacher's
embedding of that word alone, and a text's features are the mean vector of its words outside a
negation's scope and the mean vector of those inside one. As the classifier is linear, the
trainer folds each word's vector into its three class scores, so the artefact holds one short
row per word (``static_pos`` / ``static_neg``), not the vectors: a text's static part is the
mean of its words' rows, computed here with numpy alone. The word list is fixed, not drawn
from the training tweets (the teacher's own whole-word vocabulary and VADER's lexicon), so
words never seen in training still carry the teacher's sense of them.

The artefact ``model.npz`` (written by ``python -m lastmile.sentiment.train``) holds
the feature vocabulary, the idf weights and the linear model's coefficients; nothing is
unpickled. Features come from :func:`features`, the same function at training and at
inference, so the two cannot drift apart. The model is loaded once per process.
"""

from __future__ import annotations

import html
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ARTEFACT = Path(__file__).resolve().parent / "model.npz"
LABELS = ("negative", "neutral", "positive")
FORMAT_VERSION = 2  # 2 adds the optional static word scores to 1
# Distinct words whose char n-gram columns are kept (a few MB); the cache starts over when full.
CHAR_CACHE_WORDS = 200_000

# Tokeniser / feature settings shared by training and inference. The trainer stores the ones
# it used in the artefact; inference reads them back from there.
DEFAULT_OPTS: dict[str, Any] = {
    "word_ngrams": 2,  # word 1..n grams
    "char_min": 2,  # char_wb n-grams, char_min..char_max
    "char_max": 5,
    "negation": True,  # mark words after a negation (until punctuation) with a _NEG suffix
    "vader": 1.0,  # scale of the VADER (compound, pos, neg, neu) features; 0 = not used
}
VADER_KEYS = ("compound", "pos", "neg", "neu")

_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_REPEAT = re.compile(r"(.)\1{2,}")
_SPACE = re.compile(r"\s+")
_EMOTICON = (
    r"(?:[<>]?[:;=8xX][\-o\*']?[\)\]\(\[dDpP/\\\}\{@\|]+"
    r"|[\)\]\(\[dDpP/\\\}\{@\|]+[\-o\*']?[:;=8][<>]?|<3+|</3+|\^_*\^|-_+-|o_o|T_T)"
)
_TOKEN = re.compile(
    _EMOTICON
    + r"|[#@]?\w+(?:['’]\w+)*"  # words, hashtags, @user, contractions
    + r"|[!?]+|\.{2,}|[.,;:]"  # punctuation that carries tone or ends a negation scope
    + r"|[^\w\s]",  # anything else that is one symbol: emoji, signs
    re.UNICODE,
)
_NEGATORS = frozenset(
    [
        "not",
        "no",
        "never",
        "nothing",
        "nobody",
        "none",
        "nowhere",
        "neither",
        "nor",
        "cannot",
        "cant",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "wasnt",
        "arent",
        "werent",
        "wont",
        "wouldnt",
        "shouldnt",
        "couldnt",
        "hasnt",
        "havent",
        "hadnt",
        "aint",
        "without",
    ]
)
_CLAUSE_END = re.compile(r"^(?:[!?]+|\.+|[.,;:])$")
_STATIC_WORD = re.compile(r"^[a-z0-9]+(?:'[a-z0-9]+)*$")


def unescape(text: str) -> str:
    """Undo the literal ``\\uXXXX`` escapes and HTML entities found in tweet dumps."""
    if "\\u" in text:
        text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    if "&" in text:
        text = html.unescape(text)
    return text


def normalise(text: str) -> str:
    """Unescaped, @user and URLs folded, long repeats cut to three, lowercased."""
    text = unescape(text)
    text = _URL.sub(" http ", text)
    text = _MENTION.sub("@user", text)
    text = _REPEAT.sub(r"\1\1\1", text)
    return _SPACE.sub(" ", text).strip().lower()


def tokens(text: str, negation: bool = True) -> list[str]:
    """Word tokens of a normalised text, with ``_NEG`` marking inside a negation's scope."""
    out = _TOKEN.findall(text)
    if not negation:
        return out
    marked = []
    in_scope = False
    for tok in out:
        if _CLAUSE_END.match(tok):
            in_scope = False
            marked.append(tok)
            continue
        bare = tok.replace("'", "").replace("’", "")
        if bare in _NEGATORS or tok.endswith(("n't", "n’t")):
            in_scope = True
            marked.append(tok)
            continue
        marked.append(tok + "_NEG" if in_scope and tok[0].isalnum() else tok)
    return marked


def features(text: str, opts: dict[str, Any] | None = None) -> list[str]:
    """Every feature string of one text: word 1..n grams and char_wb n-grams."""
    o = DEFAULT_OPTS if opts is None else opts
    norm = normalise(text)
    toks = tokens(norm, bool(o["negation"]))
    feats = ["w:" + t for t in toks]
    for n in range(2, int(o["word_ngrams"]) + 1):
        feats.extend("w:" + " ".join(toks[i : i + n]) for i in range(len(toks) - n + 1))
    lo, hi = int(o["char_min"]), int(o["char_max"])
    if hi >= lo > 0:
        for word in norm.split():
            padded = f" {word} "
            size = len(padded)
            for n in range(lo, min(hi, size) + 1):
                feats.extend(padded[i : i + n] for i in range(size - n + 1))
    return feats


def static_keys(toks: list[str]) -> list[tuple[str, bool]]:
    """(word, inside a negation's scope) of each token that can have a static vector: plain
    lowercase words and numbers, a hashtag's word without its ``#``, ``’`` read as ``'``."""
    out = []
    for tok in toks:
        neg = tok.endswith("_NEG")
        if neg:
            tok = tok[:-4]
        if tok.startswith("#"):
            tok = tok[1:]
        tok = tok.replace("’", "'")
        if _STATIC_WORD.match(tok):
            out.append((tok, neg))
    return out


_vader: Any = None


def dense(texts: list[str], opts: dict[str, Any] | None = None) -> Any:
    """VADER (compound, pos, neg, neu) × scale per text, shape (n, 4); None when not used."""
    global _vader
    o = DEFAULT_OPTS if opts is None else opts
    scale = float(o.get("vader", 0.0))
    if not scale:
        return None
    import numpy as np

    if _vader is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _vader = SentimentIntensityAnalyzer()
    out = np.empty((len(texts), len(VADER_KEYS)), dtype=np.float64)
    for i, text in enumerate(texts):
        s = _vader.polarity_scores(unescape(text))
        out[i] = [s[k] for k in VADER_KEYS]
    return out * scale


class Model:
    """The exported linear model: vocabulary → column, idf, coefficients (classes × features)."""

    def __init__(self, path: Path = ARTEFACT) -> None:
        import json

        import numpy as np

        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode("utf-8"))
            vocab_blob = bytes(z["vocab"]).decode("utf-8")
            self.idf = z["idf"].astype(np.float64)
            self.coef = z["coef"].astype(np.float64)  # (n_features, n_classes)
            self.intercept = z["intercept"].astype(np.float64)
            self.dense_coef = z["dense_coef"].astype(np.float64) if "dense_coef" in z else None
            # Static word scores: (words, classes) outside / inside a negation's scope.
            self.static_pos = self.static_neg = None
            self.static_vocab: dict[str, int] = {}
            if "static_vocab" in z:
                words = bytes(z["static_vocab"]).decode("utf-8").split("\n")
                self.static_vocab = {w: i for i, w in enumerate(words)}
                self.static_pos = z["static_pos"].astype(np.float64)
                self.static_neg = z["static_neg"].astype(np.float64)
        if meta.get("format") not in (1, FORMAT_VERSION):
            raise RuntimeError(f"sentiment artefact {path} has an unknown format")
        self.meta = meta
        self.opts = meta["opts"]
        self.sublinear = bool(meta["sublinear_tf"])
        self.classes = tuple(meta["labels"])
        self.vocab = {f: i for i, f in enumerate(vocab_blob.split("\n"))}
        # word -> the vocabulary columns of its char_wb n-grams, in features() order.
        self._char_cache: dict[str, tuple[int, ...]] = {}

    def _char_columns(self, word: str) -> tuple[int, ...]:
        """The columns of one word's char_wb n-grams, as :func:`features` lists them (unknown
        n-grams left out), computed once per distinct word: the n-grams of a word never
        change, and building and looking up its ~20 strings was half of a prediction's time.
        """
        cols = self._char_cache.get(word)
        if cols is None:
            lo, hi = int(self.opts["char_min"]), int(self.opts["char_max"])
            padded = f" {word} "
            size = len(padded)
            vocab = self.vocab
            found = (
                vocab.get(padded[i : i + n])
                for n in range(lo, min(hi, size) + 1)
                for i in range(size - n + 1)
            )
            cols = tuple(c for c in found if c is not None)
            if len(self._char_cache) >= CHAR_CACHE_WORDS:
                self._char_cache.clear()  # a bounded memory beats an exact LRU here
            self._char_cache[word] = cols
        return cols

    def columns(self, text: str) -> list[int]:
        """The vocabulary column of every known feature of ``text``, in :func:`features` order.

        Equal, feature for feature, to ``map(vocab.get, features(text))`` with the unknown
        features left out, so the counts below come out in the same order and the float sums
        are bit-for-bit those of the plain path (tests/sentiment/test_sentiment.py checks both).
        """
        return self._parse(text)[0]

    def _parse(self, text: str) -> tuple[list[int], list[str]]:
        """(:meth:`columns` of the text, its tokens)."""
        o, vocab = self.opts, self.vocab
        norm = normalise(text)
        toks = tokens(norm, bool(o["negation"]))
        words = ["w:" + t for t in toks]
        for n in range(2, int(o["word_ngrams"]) + 1):
            words.extend("w:" + " ".join(toks[i : i + n]) for i in range(len(toks) - n + 1))
        seq = [c for c in map(vocab.get, words) if c is not None]
        lo, hi = int(o["char_min"]), int(o["char_max"])
        if hi >= lo > 0:
            char_columns = self._char_columns
            for word in norm.split():
                seq.extend(char_columns(word))
        return seq, toks

    def _static(self, rows: list[int], ids: list[int], negs: list[bool], n: int) -> Any:
        """Each text's mean word scores outside plus inside negation, shape (n, classes)."""
        import numpy as np

        out = np.zeros((n, len(self.classes)))
        if not ids or self.static_pos is None or self.static_neg is None:
            return out
        row = np.asarray(rows, dtype=np.int64)
        idx = np.asarray(ids, dtype=np.int64)
        neg = np.asarray(negs, dtype=bool)
        for table, mask in ((self.static_pos, ~neg), (self.static_neg, neg)):
            r, i = row[mask], idx[mask]
            if not len(r):
                continue
            size = np.bincount(r, minlength=n)
            share = 1.0 / size[r]
            for k in range(out.shape[1]):
                out[:, k] += np.bincount(r, weights=table[i, k] * share, minlength=n)
        return out

    def decision(self, texts: Iterable[str]) -> Any:
        """Linear decision scores, one row of ``len(classes)`` per text (batched in numpy)."""
        import numpy as np

        texts = list(texts)
        flat: list[int] = []
        sizes: list[int] = []
        s_rows: list[int] = []
        s_ids: list[int] = []
        s_negs: list[bool] = []
        static_vocab = self.static_vocab
        for r, text in enumerate(texts):
            seq, toks = self._parse(text)
            flat.extend(seq)
            sizes.append(len(seq))
            if static_vocab:
                for word, neg in static_keys(toks):
                    i = static_vocab.get(word)
                    if i is not None:
                        s_rows.append(r)
                        s_ids.append(i)
                        s_negs.append(neg)
        # Term counts per (text, column), in the order each column first occurs in its text:
        # the order Counter gave, so every sum below adds the same floats in the same order.
        n, width = len(texts), len(self.vocab)
        key = np.repeat(np.arange(n, dtype=np.int64), sizes) * width
        key += np.asarray(flat, dtype=np.int64)
        unique, first, counts = np.unique(key, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")
        unique, counts = unique[order], counts[order]
        out = np.tile(self.intercept, (n, 1))
        if self.dense_coef is not None and n:
            out += dense(texts, self.opts) @ self.dense_coef
        if static_vocab and n:
            out += self._static(s_rows, s_ids, s_negs, n)
        if not len(unique):
            return out
        row, col = np.divmod(unique, width)
        tf = counts.astype(np.float64)
        if self.sublinear:
            tf = 1.0 + np.log(tf)
        w = tf * self.idf[col]
        norm = np.sqrt(np.bincount(row, weights=w * w, minlength=n))
        norm[norm == 0] = 1.0
        w /= norm[row]
        for k in range(out.shape[1]):
            out[:, k] += np.bincount(row, weights=w * self.coef[col, k], minlength=n)
        return out

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        return labelled(self.decision(texts), self.classes)


def probabilities(scores: Any) -> Any:
    """Row-wise softmax of class scores (float64)."""
    import numpy as np

    z = np.asarray(scores, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    return p


def labelled(scores: Any, classes: tuple[str, ...]) -> list[tuple[str, float]]:
    """(best class, p(positive) − p(negative) under a softmax) per row of class ``scores``."""
    import numpy as np

    scores = np.asarray(scores, dtype=np.float64)
    if not len(scores):
        return []
    p = probabilities(scores)
    neg, pos = classes.index("negative"), classes.index("positive")
    best = scores.argmax(axis=1)
    return [(classes[int(b)], round(float(p[i, pos] - p[i, neg]), 4)) for i, b in enumerate(best)]


MODELS = ("encoder", "linear", "cascade")
_models: dict[str, Any] = {}
_lock = threading.RLock()  # the cascade loads its two models inside it


def chosen() -> str:
    """The model the settings name (``LASTMILE_SENTIMENT_MODEL``), or ``encoder`` where no
    Django settings are in use (a script importing this module alone)."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        return str(getattr(settings, "LASTMILE_SENTIMENT_MODEL", "encoder"))
    except ImproperlyConfigured:
        if settings.configured or os.environ.get("DJANGO_SETTINGS_MODULE"):
            raise  # the settings exist and refuse a value: say so, do not guess
        return "encoder"


def get_model(name: str | None = None) -> Any:
    """The shipped model (``encoder``: the fine-tuned MiniLM in ONNX; ``linear``: the n-gram
    model of ``model.npz``; ``cascade``: the linear model, and the encoder where it is
    unsure), loaded on first use and cached for the life of the process."""
    name = name or chosen()
    if name not in MODELS:
        raise RuntimeError(f"no sentiment model {name!r}: choose one of {', '.join(MODELS)}")
    model = _models.get(name)
    if model is None:
        with _lock:
            model = _models.get(name)
            if model is None:
                if name == "encoder":
                    from lastmile.sentiment.encoder import EncoderModel

                    model = EncoderModel()
                elif name == "cascade":
                    from lastmile.sentiment.cascade import CascadeModel

                    model = CascadeModel(get_model("linear"), get_model("encoder"))
                else:
                    if not ARTEFACT.exists():
                        raise RuntimeError(
                            f"sentiment model missing: {ARTEFACT} "
                            "(train it with `make train-sentiment`)"
                        )
                    model = Model(ARTEFACT)
                _models[name] = model
    return model


def predict(texts: list[str]) -> list[tuple[str, float]]:
    """(label, score) per text; label in negative/neutral/positive, score = p(pos) − p(neg)."""
    return get_model().predict(list(texts))


def predict_one(text: str) -> tuple[str, float]:
    return predict([text])[0]
