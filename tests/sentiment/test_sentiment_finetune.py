"""The fine-tuning route's helpers (``python -m lastmile.sentiment.finetune``; not shipped).

Fine-tuning itself needs PyTorch and the teacher's weights (the ``train`` extra) and minutes of
CPU, so only the parts that decide what the model sees are tested here, without them.
"""

from __future__ import annotations

import random

from lastmile.sentiment.finetune import clean, length_batches, pad


def test_clean_folds_users_urls_and_repeats_but_keeps_the_case() -> None:
    text = "@Virgin Thanks!!!!! see https://t.co/abc \\u2019 &amp; Sooooo GOOD"

    assert clean(text) == "@user Thanks!!! see http \u2019 & Sooo GOOD"


def test_pad_pads_to_the_longest_with_a_mask() -> None:
    ids, mask = pad([[101, 7, 102], [101, 102]])

    assert ids.tolist() == [[101, 7, 102], [101, 102, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 1, 0]]


def test_length_batches_use_every_text_once_in_batches_of_similar_length() -> None:
    # given 1,000 texts of random lengths
    rng = random.Random(1)
    seqs = [[0] * rng.randint(1, 60) for _ in range(1000)]

    # when they are batched by 32
    batches = length_batches(list(range(1000)), seqs, 32, random.Random(2))

    # then each text is in exactly one batch, and the batches are sorted by length
    assert sorted(j for b in batches for j in b) == list(range(1000))
    assert all(len(b) <= 32 for b in batches)
    assert all([len(seqs[j]) for j in b] == sorted(len(seqs[j]) for j in b) for b in batches)
    # and a whole batch spans a narrow range of lengths (1,000 texts in one chunk of 1,600)
    spans = [len(seqs[b[-1]]) - len(seqs[b[0]]) for b in batches if len(b) == 32]
    assert max(spans) <= 6
