"""A file import stores mentions pending; the worker scores them and puts them on the timeline.

What the two steps leave is what the one-step ingest leaves (the bulk test's scenario, every
turn of the loop engine); until the worker has run, a mention says "sentiment pending",
stays out of the unattended queue, and holds back the crisis detectors' buckets.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from lastmile.cases.models import Case
from lastmile.cli import main
from lastmile.crisis.models import DetectorState
from lastmile.crisis.services.triggers import triggers_run
from lastmile.customers.models import Interaction
from lastmile.listening.models import Mention
from lastmile.listening.selectors import unattended
from lastmile.listening.services import process as process_module
from lastmile.listening.services.process import mentions_process, mentions_process_all
from lastmile.listening.services.store import mentions_store
from lastmile.loops.models import Loop, LoopState, SlaPolicy
from lastmile.people.viewers import SYSTEM
from tests.crisis.mentions import authors_make, mentions_make, term_make
from tests.listening import test_mentions_bulk as bulk
from tests.listening.test_mentions_import import twcs_rows, write_csv

pytestmark = pytest.mark.django_db


def import_file(*args: str) -> Any:
    return CliRunner().invoke(main, ["mentions", "import", *args, "--quiet"])


@pytest.fixture
def social_policy(db):
    return SlaPolicy.objects.create(
        name="Social", position=10, kind="reply", channel="social", first_reply_minutes=60
    )


def test_an_import_stores_pending_mentions_and_the_worker_threads_them(
    tmp_path, social_policy, now
):
    # Given a file of five conversations, imported
    path = write_csv(tmp_path / "twcs.csv", twcs_rows(5))
    result = import_file(str(path))

    # Then the ten mentions are stored, pending: no sentiment, nothing on the timeline yet
    assert result.exit_code == 0, result.output
    assert "10 mentions imported" in result.output
    assert "10 mentions pending" in result.output
    assert Mention.objects.filter(pending=True).count() == 10
    assert set(Mention.objects.values_list("sentiment_label", flat=True)) == {""}
    assert not Interaction.objects.exists() and not Loop.objects.exists()

    # When the worker processes them
    done = mentions_process_all(now=now)

    # Then every mention is scored, the asks are on cases and the answers closed their loops
    assert (done.mentions, done.cases, done.interactions) == (10, 5, 10)
    assert not Mention.objects.filter(pending=True).exists()
    assert not Mention.objects.filter(sentiment_label="").exists()
    assert Case.objects.count() == 5
    assert set(Loop.objects.values_list("state", flat=True)) == {LoopState.CLOSED}
    for m in Mention.objects.filter(is_brand=True):
        assert m.replied_at == m.posted_at + timedelta(minutes=4) and m.case_id

    # and processing again does nothing
    before = [m.objects.count() for m in (Interaction, Loop, Case)]
    assert mentions_process(now=now).batches == 0
    assert [m.objects.count() for m in (Interaction, Loop, Case)] == before


def test_the_process_command_does_what_the_worker_does(tmp_path, social_policy):
    path = write_csv(tmp_path / "twcs.csv", twcs_rows(3))
    assert import_file(str(path)).exit_code == 0
    result = CliRunner().invoke(main, ["mentions", "process", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "6 mentions processed: sentiment scored, 6 put on the timeline, 3 cases opened" in (
        result.output
    )
    again = CliRunner().invoke(main, ["mentions", "process", "--quiet"])
    assert "no mentions pending" in again.output


def test_the_worker_task_processes_what_is_pending(tmp_path, social_policy):
    from lastmile.listening.tasks import process_mentions, process_mentions_periodic

    path = write_csv(tmp_path / "twcs.csv", twcs_rows(2))
    assert import_file(str(path)).exit_code == 0
    process_mentions.call_local()
    assert not Mention.objects.filter(pending=True).exists()
    assert Loop.objects.count() == 2
    process_mentions_periodic.call_local()  # nothing left: nothing done
    assert Loop.objects.count() == 2


def test_a_batch_that_fails_leaves_its_mentions_pending_for_the_next_run(
    tmp_path, social_policy, now, monkeypatch
):
    path = write_csv(tmp_path / "twcs.csv", twcs_rows(4))
    assert import_file(str(path)).exit_code == 0
    real = process_module.timeline_write

    def crash(b: Any) -> None:
        real(b)  # cases, interactions and loops written, then the worker dies
        raise RuntimeError("killed")

    monkeypatch.setattr(process_module, "timeline_write", crash)
    with pytest.raises(RuntimeError):
        mentions_process(now=now, limit=3)
    assert Mention.objects.filter(pending=True).count() == 8
    assert not Case.objects.exists() and not Interaction.objects.exists()

    monkeypatch.setattr(process_module, "timeline_write", real)
    mentions_process_all(now=now, batch=3)
    assert not Mention.objects.filter(pending=True).exists()
    assert (Case.objects.count(), Interaction.objects.count(), Loop.objects.count()) == (4, 8, 4)


def test_a_sentiment_policy_applies_to_the_loops_the_worker_opens(tmp_path, social_policy, now):
    # Given a tighter policy for negative posts: the worker scores before it opens loops
    SlaPolicy.objects.create(
        name="Social negative",
        position=5,
        kind="reply",
        channel="social",
        sentiment="negative",
        first_reply_minutes=15,
    )
    rows = [
        [
            "1",
            "111",
            "True",
            "Fri Nov 20 09:00:00 +0000 2026",
            "@AcmeHelp terrible awful service, I hate this, worst bank ever",
            "",
            "",
        ],
        ["2", "112", "True", "Fri Nov 20 09:01:00 +0000 2026", "@AcmeHelp thanks a lot!", "", ""],
    ]
    path = write_csv(tmp_path / "two.csv", rows)
    assert import_file(str(path)).exit_code == 0
    mentions_process_all(now=now)
    policy = {
        m.external_id: (m.sentiment_label, m.reply_loop.sla_policy.name)
        for m in Mention.objects.select_related("reply_loop__sla_policy")
    }
    assert policy["1"] == ("negative", "Social negative")
    assert policy["2"][1] == "Social"


def test_pending_mentions_say_so_and_stay_out_of_the_unattended_queue(
    tmp_path, social_policy, client, alice, now
):
    path = write_csv(tmp_path / "ask.csv", twcs_rows(1)[1:])  # the ask only, no answer
    assert import_file(str(path)).exit_code == 0
    assert not unattended(viewer=SYSTEM).exists()
    client.force_login(alice)
    page = client.get("/listening/")
    assert page.status_code == 200 and "Sentiment pending" in page.content.decode()

    mentions_process_all(now=now)
    assert unattended(viewer=SYSTEM).count() == 1
    assert "Sentiment pending" not in client.get("/listening/").content.decode()


def test_the_crisis_buckets_wait_for_pending_mentions(team, now):
    # Given a term whose mentions of 20 minutes ago are still pending (not scored)
    term = term_make(team=team, now=now)
    authors = authors_make(3, now=now)
    at = now - timedelta(minutes=20)
    made = mentions_make(
        term,
        [{"posted_at": at, "author": authors[0]}, {"posted_at": at, "author": authors[1]}],
        now=now,
    )
    Mention.objects.filter(pk=made[1].pk).update(pending=True, sentiment_label="")

    # When the triggers run, the detectors stop before the pending mention's bucket
    triggers_run(now=now)
    ends = set(DetectorState.objects.filter(term=term).values_list("last_bucket_end", flat=True))
    assert ends and max(ends) <= at

    # and once it is scored, they go on past it
    Mention.objects.filter(pk=made[1].pk).update(pending=False, sentiment_label="negative")
    triggers_run(now=now)
    ends = set(DetectorState.objects.filter(term=term).values_list("last_bucket_end", flat=True))
    assert min(ends) > at


def pending_ingest(items: list[Any], now: Any, one_by_one: bool) -> list[Any]:
    """The bulk test's ingest done as a file import does it: stored, then processed."""
    stored = mentions_store(items=items, now=now)
    stored.cases = mentions_process_all(now=now, batch=len(items)).cases
    return [stored]


def test_storing_then_processing_leaves_what_the_one_step_ingest_leaves(world, now, monkeypatch):
    # The bulk test's scenario (every turn of the loop engine, a merge between batches),
    # through the one-step ingest, then through the two steps (rolled back in between).
    one_step = bulk.run_both_ways(now, world["known"])[False]
    monkeypatch.setattr(bulk, "ingest", pending_ingest)
    two_steps = bulk.run_both_ways(now, world["known"])[False]
    rows_one, counts_one = one_step
    rows_two, counts_two = two_steps
    assert counts_two == counts_one == [22, 22, 10]
    for table in rows_one:
        assert rows_two[table] == rows_one[table], table


world = bulk.world
