"""`lastmile mentions import`: both file layouts, bad rows, resuming, idempotency, --brand."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from lastmile.cli import main
from lastmile.customers.models import Interaction
from lastmile.listening.models import Author, ImportRun, Mention, WatchTerm
from lastmile.listening.services import files
from lastmile.listening.services.store import mentions_store
from lastmile.listening.services.terms import watchterm_create
from lastmile.loops.models import Loop, LoopState, SlaPolicy

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "listening"
HEADER = [
    "tweet_id",
    "author_id",
    "inbound",
    "created_at",
    "text",
    "response_tweet_id",
    "in_response_to_tweet_id",
]
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def twcs_time(at: datetime) -> str:
    return at.strftime("%a %b %d %H:%M:%S +0000 %Y")


def twcs_rows(conversations: int, brand: str = "AcmeHelp", start_id: int = 1) -> list[list[str]]:
    """Generated threads in the TWCS layout, newest first within a thread as upstream:
    a customer asks, the brand answers (ids as a pandas re-save writes them, "3.0")."""
    rows = []
    tid = start_id
    for c in range(conversations):
        ask, answer = tid, tid + 1
        tid += 2
        at = T0 + timedelta(minutes=7 * c)
        rows.append(
            [
                str(answer),
                brand,
                "False",
                twcs_time(at + timedelta(minutes=4)),
                f"@{100000 + c} Sorry to hear that, DM us please",
                "",
                f"{ask}.0",
            ]
        )
        rows.append(
            [
                str(ask),
                str(100000 + c),
                "True",
                twcs_time(at),
                f"@{brand} my order {c} never arrived",
                str(answer),
                "",
            ]
        )
    return rows


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def run(*args: str, process: bool = True):
    # The import stores mentions pending; --process then does the worker's half (sentiment,
    # timeline) in the same command, so a test sees what the worker leaves.
    return CliRunner().invoke(
        main,
        ["mentions", "import", *args, "--quiet", *(["--process"] if process else [])],
        catch_exceptions=True,
    )


@pytest.fixture
def social_policy(db):
    return SlaPolicy.objects.create(
        name="Social", position=10, kind="reply", channel="social", first_reply_minutes=60
    )


def test_a_twcs_file_is_imported_threaded_and_the_replies_close_the_loops(tmp_path, social_policy):
    path = write_csv(tmp_path / "twcs.csv", twcs_rows(5))
    result = run(str(path))
    assert result.exit_code == 0, result.output
    assert "10 mentions imported" in result.output
    assert "5 cases opened" in result.output
    asks = Mention.objects.filter(is_brand=True)
    assert asks.count() == 5 and Mention.objects.filter(is_from_brand=True).count() == 5
    assert Interaction.objects.filter(direction="inbound").count() == 5
    assert Interaction.objects.filter(direction="outbound").count() == 5
    assert set(Loop.objects.values_list("state", flat=True)) == {LoopState.CLOSED}
    for m in asks:
        assert m.replied_at == m.posted_at + timedelta(minutes=4)
    # the in-response-to id was written as a float ("3.0"); it is stored as the id
    assert set(
        Mention.objects.filter(is_from_brand=True).values_list("in_reply_to_id", flat=True)
    ) == {str(i) for i in range(1, 10, 2)}


def test_malformed_rows_are_reported_by_line_and_skipped(tmp_path):
    rows = twcs_rows(2)
    # lines: 1 header, 2 answer, 3 bad, 4 ask, 5 bad, 6 answer, 7 ask, ...
    rows.insert(1, ["90", "someone", "maybe", twcs_time(T0), "hi", "", ""])  # line 3
    rows.insert(3, ["91", "someone", "True", "yesterday", "hi", "", ""])  # line 5
    rows.append(["92", "someone", "True", twcs_time(T0), "multi\nline text", "", ""])  # 8-9
    rows.append(["93", "", "True", twcs_time(T0), "no author", "", ""])  # line 10
    rows.append(["94", "x"])  # line 11: two columns
    path = write_csv(tmp_path / "bad.csv", rows)
    result = run(str(path))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "line 3: inbound: expected True or False, got 'maybe'" in out
    assert "line 5: created_at: 'yesterday' is not a time" in out
    assert "line 10: author.handle: must not be empty" in out
    assert "line 11: expected 7 columns, got 2" in out
    assert "4 malformed rows skipped" in out
    assert "5 mentions imported" in out  # 4 good + the multi-line one
    assert Mention.objects.get(external_id="92").text == "multi\nline text"
    run_row = ImportRun.objects.get()
    assert [e["line"] for e in run_row.errors] == [3, 5, 10, 11]


def test_an_interrupted_import_resumes_after_the_last_stored_batch(
    tmp_path, monkeypatch, social_policy
):
    path = write_csv(tmp_path / "twcs.csv", twcs_rows(6))  # 12 rows, lines 2-13
    real = mentions_store
    calls: list[list[str]] = []

    def crash_on_second(*, items, now, **kw):
        calls.append([i.external_id for i in items])
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return real(items=items, now=now, **kw)

    monkeypatch.setattr(files, "mentions_store", crash_on_second)
    first = run(str(path), "--batch-size", "4")
    assert first.exit_code != 0 and isinstance(first.exception, RuntimeError)
    assert Mention.objects.count() == 4
    assert ImportRun.objects.get().last_line == 5  # header + 4 rows

    calls.clear()
    monkeypatch.setattr(
        files,
        "mentions_store",
        lambda *, items, now, **kw: (
            calls.append([i.external_id for i in items]) or real(items=items, now=now, **kw)
        ),
    )
    second = run(str(path), "--batch-size", "4")
    assert second.exit_code == 0, second.output
    assert "resuming after line 5" in second.output
    assert "8 mentions imported" in second.output
    done_first = {str(i) for i in range(1, 5)}
    assert not done_first & {e for batch in calls for e in batch}  # the stored rows not re-read
    assert Mention.objects.count() == 12
    assert ImportRun.objects.get().finished_at is not None


def test_a_finished_file_is_not_read_again_and_a_restart_changes_nothing(tmp_path, social_policy):
    path = write_csv(tmp_path / "twcs.csv", twcs_rows(3))
    assert run(str(path)).exit_code == 0
    counts = [m.objects.count() for m in (Mention, Interaction, Loop)]
    again = run(str(path))
    assert again.exit_code == 0 and "already imported" in again.output
    restart = run(str(path), "--restart")
    assert restart.exit_code == 0
    assert "0 mentions imported, 6 already stored" in restart.output
    assert [m.objects.count() for m in (Mention, Interaction, Loop)] == counts


def test_the_same_posts_in_another_file_are_not_stored_twice(tmp_path):
    a = write_csv(tmp_path / "a.csv", twcs_rows(3))
    b = tmp_path / "b.csv"
    shutil.copy(a, b)
    with b.open("a", encoding="utf-8") as fh:
        fh.write("999,someone,True,Fri Nov 20 09:00:00 +0000 2026,extra row,,\n")
    assert run(str(a)).exit_code == 0
    result = run(str(b))
    assert "1 mentions imported, 6 already stored" in result.output
    assert Mention.objects.count() == 7


def test_brand_keeps_only_that_brands_conversations_and_adds_its_watch_term(tmp_path):
    rows = twcs_rows(2, brand="AcmeHelp") + twcs_rows(2, brand="OtherCo", start_id=50)
    path = write_csv(tmp_path / "two.csv", rows)
    result = run(str(path), "--brand", "@AcmeHelp")
    assert result.exit_code == 0, result.output
    assert "created brand watch term '@AcmeHelp'" in result.output
    assert "4 rows of other brands skipped" in result.output
    assert Mention.objects.count() == 4
    assert not Mention.objects.filter(author__handle="otherco").exists()
    term = WatchTerm.objects.get()
    assert (term.kind, term.brand_handle) == ("brand", "@AcmeHelp")
    assert Mention.objects.filter(terms=term).count() == 2  # the asks name @AcmeHelp


def test_twitter_api_v2_json_is_imported_with_profiles_and_metrics(tmp_path, social_policy, now):
    watchterm_create(
        name="Acme", query="@AcmeBank", kind="brand", brand_handle="@AcmeBank", now=now
    )
    watchterm_create(name="Northwind", query='"northwind bank"', kind="competitor", now=now)
    path = tmp_path / "search.json"
    shutil.copy(FIXTURES / "twitter_v2_recent_search.json", path)
    result = run(str(path))
    assert result.exit_code == 0, result.output
    assert "3 mentions imported" in result.output
    assert "row 4: author_id: user 555 is not in includes.users" in result.output
    ask = Mention.objects.select_related("author").get(external_id="1861000000000000001")
    assert ask.author.handle == "dana_codes" and ask.author.followers == 1530
    assert ask.url == "https://twitter.com/dana_codes/status/1861000000000000001"
    assert (ask.likes, ask.reposts, ask.replies, ask.lang) == (87, 14, 3, "en")
    assert ask.author.reach == 15230  # the impressions
    assert ask.is_brand and ask.reply_loop.state == LoopState.CLOSED
    answer = Mention.objects.get(external_id="1861000000000000002")
    assert answer.is_from_brand and answer.author.verified
    assert answer.case_id == ask.case_id
    rival = Mention.objects.get(external_id="1861000000000000003")
    assert rival.is_competitor and not rival.is_brand


def test_json_lines_of_api_pages_are_imported_line_by_line(tmp_path):
    doc = json.loads((FIXTURES / "twitter_v2_recent_search.json").read_text())
    page1 = {"data": doc["data"][:2], "includes": doc["includes"]}
    page2 = {"data": doc["data"][2:3], "includes": doc["includes"]}
    path = tmp_path / "pages.jsonl"
    path.write_text(json.dumps(page1) + "\n{not json\n" + json.dumps(page2) + "\n")
    result = run(str(path))
    assert result.exit_code == 0, result.output
    assert "row 2: not JSON" in result.output
    assert "3 mentions imported" in result.output
    assert Author.objects.count() == 3


def test_an_unrecognised_file_is_refused_with_a_reason(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("hello\nworld\n")
    result = run(str(path))
    assert result.exit_code != 0 and "cannot tell the format" in result.output
    assert not ImportRun.objects.exists()


def test_a_csv_without_the_twcs_columns_is_refused(tmp_path):
    path = write_csv(tmp_path / "x.csv", [["1", "2"]], header=["tweet_id", "author_id"])
    result = run(str(path), "--format", "twcs-csv")
    assert result.exit_code != 0 and "missing column(s) inbound" in result.output


def test_a_malformed_row_inside_a_batch_leaves_the_rest_of_the_batch_stored(
    tmp_path, social_policy
):
    rows = twcs_rows(30)  # 60 rows; with batches of 7 some threads span two batches
    rows.insert(24, ["500", "someone", "True", "not a time", "hi", "", ""])  # line 26
    path = write_csv(tmp_path / "twcs.csv", rows)
    result = run(str(path), "--batch-size", "7")
    assert result.exit_code == 0, result.output
    assert "line 26: created_at: 'not a time' is not a time" in result.output
    assert "60 mentions imported, 0 already stored, 1 malformed rows skipped" in result.output
    assert "30 cases opened" in result.output
    # the rows next to the bad one, in its batch, are on the timeline with their loops
    for ext in ("23", "24", "25", "26"):
        assert Mention.objects.get(external_id=ext).interaction_id is not None
    assert Loop.objects.count() == 30
    assert set(Loop.objects.values_list("state", flat=True)) == {LoopState.CLOSED}
    assert [e["line"] for e in ImportRun.objects.get().errors] == [26]


def test_reimporting_a_file_through_the_bulk_path_adds_nothing(tmp_path, social_policy):
    from lastmile.cases.models import Case
    from lastmile.customers.models import Customer, Identity
    from lastmile.loops.models import LoopEvent

    rows = twcs_rows(30)
    rows.insert(24, ["500", "someone", "True", "not a time", "hi", "", ""])
    path = write_csv(tmp_path / "twcs.csv", rows)
    tables = (Mention, Author, Interaction, Loop, LoopEvent, Case, Customer, Identity)
    assert run(str(path), "--batch-size", "7").exit_code == 0
    counts = [m.objects.count() for m in tables]
    replied = dict(Mention.objects.values_list("external_id", "replied_at"))
    again = run(str(path), "--batch-size", "5", "--restart")
    assert again.exit_code == 0, again.output
    assert "0 mentions imported, 60 already stored, 1 malformed rows skipped" in again.output
    assert "no mentions pending" in again.output
    assert [m.objects.count() for m in tables] == counts
    assert dict(Mention.objects.values_list("external_id", "replied_at")) == replied


@pytest.mark.parametrize(
    "value",
    [
        "Tue Oct 31 22:10:47 +0000 2017",
        "Wed Nov 1 03:04:05 +0000 2017",
        " Sat Dec 02 00:00:00 +0000 2017 ",
        "Tue Oct 31 22:10:47 +0200 2017",
        "Wed Nov 01 3:04:05 +0000 2017",
        "Tue Oct 31 22:10:4\u0667 +0000 2017",  # an Arabic-Indic 7: strptime takes it
    ],
)
def test_a_twcs_time_is_read_as_strptime_reads_it(value):
    from lastmile.listening.importers import TWCS_TIME, _twcs_time

    expected = datetime.strptime(value.strip(), TWCS_TIME)  # noqa: DTZ007 - %z in it
    got = _twcs_time(value)
    assert got == expected and got.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "value", ["Tue Feb 30 22:10:47 +0000 2017", "Tue Oct 31 24:00:00 +0000 2017", "Xyz Oct 31"]
)
def test_a_twcs_time_that_is_no_date_is_refused(value):
    from lastmile.listening.importers import _twcs_time
    from lastmile.listening.records import RowError

    with pytest.raises(RowError, match="is not a time"):
        _twcs_time(value)


@pytest.mark.parametrize(
    "fields",
    [
        {"external_id": "12", "author_handle": "Acme_Help", "text": "hi", "in_reply_to_id": "3.0"},
        {"external_id": "12", "author_handle": "u1", "text": "x", "reply_ids": ["4", " 5 ", ""]},
        {"external_id": "", "author_handle": "u1", "text": "x"},
        {"external_id": "1 2", "author_handle": "u1", "text": "x"},
        {"external_id": "1", "author_handle": "", "text": "x"},
        {"external_id": "1", "author_handle": "a b", "text": "x"},
        {"external_id": "1", "author_handle": "u", "text": "   "},
        {"external_id": "1", "author_handle": "u", "text": "nul \x00"},
        {"external_id": "1", "author_handle": "u", "text": None},
        {"external_id": "1", "author_handle": "u", "text": "x", "in_reply_to_id": "1.5"},
        {"external_id": "x" * 101, "author_handle": "u", "text": "x"},
        {"external_id": "1", "author_handle": "u", "text": "x", "network": "Bad Net"},
        {"external_id": "1", "author_handle": "u", "text": "x", "reply_ids": ["a b"]},
    ],
)
def test_the_twcs_reader_checks_a_row_as_mention_in_does(fields):
    from lastmile.listening.records import RowError, mention_in, mention_in_thread

    args = {
        "network": "twitter",
        "posted_at": datetime(2017, 10, 31, 22, 10, 47, tzinfo=timezone(timedelta(hours=2))),
        "from_brand": False,
        "to_brand": True,
        **fields,
    }

    def outcome(check):
        try:
            return check(**args)
        except RowError as exc:
            return str(exc)

    full = {**args, "author_id": args["author_handle"]}
    try:
        expected = mention_in(**full)
    except RowError as exc:
        expected = str(exc)
    assert outcome(mention_in_thread) == expected
