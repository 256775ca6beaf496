"""Draw the support check set's messages (reproducible): ``python bench/sentiment_checkset/sample.py``.

Prints ``source<TAB>id<TAB>text`` for 320 customer messages, drawn with a fixed seed from the
shared support data sets (../shared/data). ``checkset.tsv`` holds the hand labels of these
rows; for the two sources whose terms forbid shipping their text (twcs, IBM) it keeps only the
id, and :func:`load` reads the text back from ../shared/data.
"""

from __future__ import annotations

import csv
import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1].parent / "shared" / "data"
SEED = 20261207
# Per source: how many messages, and whether the text may be stored in this repository.
COUNTS = {"twcs": 140, "ibm": 60, "banking77": 60, "bitext": 60}
SHIPPABLE = {"banking77", "bitext"}  # CC BY 4.0 / CDLA-Sharing-1.0; twcs is NC, IBM not anonymised


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def candidates(data: Path = DATA) -> dict[str, dict[str, str]]:
    """Every eligible customer message per source, id → text, in file order."""
    out: dict[str, dict[str, str]] = {k: {} for k in COUNTS}
    twcs = data / "twcs-customer-support-twitter"
    for name in ("twcs_first_5000_rows.csv", "spotifycares_inbound_requests.csv"):
        with open(twcs / name, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                text = _clean(row["text"])
                if row["inbound"] == "True" and len(text) >= 25:
                    out["twcs"].setdefault(row["tweet_id"], text)
    ibm = data / "ibm-twitter-customer-care"
    for name in ("dev.json", "test.json"):
        for conv in json.loads((ibm / name).read_text(encoding="utf-8")):
            for msg in conv["dialogContent"]:
                if "client" in msg and len(_clean(msg["message"])) >= 25:  # not "agent"
                    out["ibm"].setdefault(msg["tweet_ID"], _clean(msg["message"]))
    with open(data / "banking77" / "train.csv", encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=2):  # id = line number in the file
            out["banking77"][str(i)] = _clean(row["text"])
    bitext = data / "bitext-customer-support" / "bitext_customer_support_21k_utterances.csv"
    with open(bitext, encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=2):
            out["bitext"][str(i)] = _clean(row["utterance"])
    return out


def draw(data: Path = DATA) -> list[tuple[str, str, str]]:
    rng = random.Random(SEED)
    rows = []
    for source, pool in candidates(data).items():
        ids = sorted(pool, key=lambda x: (len(x), x))
        for id_ in rng.sample(ids, COUNTS[source]):
            rows.append((source, id_, pool[id_]))
    return rows


def load(path: Path = HERE / "checkset.tsv", data: Path = DATA) -> list[tuple[str, str]]:
    """(text, label) of every labelled row; the text of twcs/IBM rows from ../shared/data."""
    pool = candidates(data)
    out = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            text = row["text"] or pool[row["source"]][row["id"]]
            out.append((text, row["label"]))
    return out


if __name__ == "__main__":
    w = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
    for row in draw():
        w.writerow(row)
