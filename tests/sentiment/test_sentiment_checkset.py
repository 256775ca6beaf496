"""The hand-labelled support check set (bench/sentiment_checkset/)."""

from __future__ import annotations

import csv
import importlib.util
from collections import Counter

from tests.conftest import REPO_ROOT, shared_data

FOLDER = REPO_ROOT / "bench" / "sentiment_checkset"


def rows() -> list[dict[str, str]]:
    with open(FOLDER / "checkset.tsv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def sample_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("checkset_sample", FOLDER / "sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_check_set_has_300_or_more_labelled_support_messages() -> None:
    got = rows()
    assert len(got) >= 300
    assert {r["label"] for r in got} == {"negative", "neutral", "positive"}
    assert len({(r["source"], r["id"]) for r in got}) == len(got)
    assert set(Counter(r["source"] for r in got)) == {"twcs", "ibm", "banking77", "bitext"}
    assert "## Labelling rules" in (FOLDER / "README.md").read_text(encoding="utf-8")


def test_only_sources_that_allow_it_have_their_text_stored() -> None:
    for r in rows():
        if r["source"] in ("twcs", "ibm"):
            assert r["text"] == "", r
        else:
            assert r["text"].strip(), r


def test_the_draw_and_the_stored_rows_agree_with_the_shared_data() -> None:
    shared_data("twcs-customer-support-twitter/twcs_first_5000_rows.csv")
    module = sample_module()
    drawn = module.draw()
    assert [(s, i) for s, i, _ in drawn] == [(r["source"], r["id"]) for r in rows()]
    loaded = module.load()
    assert len(loaded) == len(drawn)
    assert [t for t, _ in loaded] == [t for _, _, t in drawn]
