"""`lastmile sentiment …` and `lastmile listen …`."""

import click

from lastmile.listening.anomaly.cli import detect
from lastmile.listening.sentiment.cli import score


@click.group()
def sentiment() -> None:
    """Sentiment (negative / neutral / positive) with the model shipped in the package."""


sentiment.add_command(score)


@click.group()
def listen() -> None:
    """Social listening: spike and anomaly detection over mention volumes."""


listen.add_command(detect)
