"""`lastmile sentiment score`: one label per input line, in order, on stdout."""

from __future__ import annotations

import os
import sys
from typing import BinaryIO

import click

from lastmile.sentiment.model import MODELS

BATCH = 2000


def _lines(stream: BinaryIO) -> list[str]:
    data = stream.read().decode("utf-8", errors="replace")
    if data.startswith("\ufeff"):
        data = data[1:]
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the trailing newline ends the last line; it does not start another
    return [line.rstrip("\r") for line in lines]


@click.command()
@click.option(
    "--input",
    "input_path",
    required=True,
    metavar="FILE",
    help="UTF-8 text, one text per line ('-' for stdin).",
)
@click.option(
    "--output",
    "output_path",
    default="-",
    show_default=True,
    metavar="FILE",
    help="Where to write the labels ('-' for stdout).",
)
@click.option(
    "--model",
    "model_name",
    type=click.Choice(MODELS),
    default=None,
    help="The model to use [default: LASTMILE_SENTIMENT_MODEL, else encoder].",
)
def score(input_path: str, output_path: str, model_name: str | None) -> None:
    """Label each line of FILE negative, neutral or positive (one label per line, in order;
    a blank line is neutral)."""
    from django.core.exceptions import ImproperlyConfigured

    from lastmile.sentiment.model import chosen, get_model

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lastmile.settings")
    try:
        model_name = model_name or chosen()
    except ImproperlyConfigured as exc:
        raise click.ClickException(str(exc)) from None

    try:
        if input_path == "-":
            texts = _lines(sys.stdin.buffer)
        else:
            with open(input_path, "rb") as fh:
                texts = _lines(fh)
    except FileNotFoundError:
        raise click.ClickException(f"input file not found: {input_path}") from None
    except IsADirectoryError:
        raise click.ClickException(f"input is a directory, not a file: {input_path}") from None
    except PermissionError:
        raise click.ClickException(f"cannot read input file: {input_path}") from None
    try:
        model = get_model(model_name)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    # A blank line says nothing: neutral, without asking the model (whose answer for no
    # words at all is its class prior, "negative").
    labels = ["neutral"] * len(texts)
    worded = [i for i, text in enumerate(texts) if text.strip()]
    for start in range(0, len(worded), BATCH):
        chunk = worded[start : start + BATCH]
        for i, (label, _) in zip(chunk, model.predict([texts[i] for i in chunk]), strict=True):
            labels[i] = label
    body = "".join(label + "\n" for label in labels)
    if output_path == "-":
        sys.stdout.write(body)
        sys.stdout.flush()
    else:
        try:
            with open(output_path, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(body)
        except OSError as exc:
            raise click.ClickException(f"cannot write {output_path}: {exc.strerror}") from None
    click.echo(f"scored {len(labels)} lines", err=True)
