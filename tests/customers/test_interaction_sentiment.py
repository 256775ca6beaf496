"""Issue 6, the inbound half: every inbound message gets a sentiment label and score, stored,
filterable in the API and the timeline, shown in the console."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from lastmile.api.services import token_create
from lastmile.core.errors import InvalidInput
from lastmile.customers.identities import IdentityKey
from lastmile.customers.models import Interaction, SentimentPending
from lastmile.customers.selectors import timeline
from lastmile.customers.services import sentiment
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.ingest import InteractionIn, interactions_ingest
from lastmile.customers.services.sentiment import (
    interactions_sentiment_pending_count,
    interactions_sentiment_score_all,
)
from lastmile.customers.services.timeline import SENTIMENT_MAX_CHARS, interaction_record
from lastmile.people.models import Agent
from lastmile.people.viewers import SYSTEM
from lastmile.sentiment import predict

pytestmark = pytest.mark.django_db

ANGRY = "This is terrible, I am furious. Worst service ever."
HAPPY = "Thank you so much, wonderful help, I love it!"
PLAIN = "The delivery is scheduled for Tuesday."


def record(customer, now, body, direction="inbound", **kw):
    return interaction_record(
        customer=customer,
        channel="chat",
        direction=direction,
        occurred_at=kw.pop("occurred_at", now),
        now=now,
        body=body,
        **kw,
    )


def ingest_scored(items, now):
    """A batch ingest, then the worker's drain of the sentiments it left pending."""
    ids = interactions_ingest(items=items, now=now)
    interactions_sentiment_score_all()
    return ids


def item(n, body, direction="inbound", **kw):
    return InteractionIn(
        channel="email",
        direction=direction,
        occurred_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC) + timedelta(minutes=n),
        body=body,
        source_id=f"mail-{n}",
        identities=[IdentityKey("email", "", f"c{n % 3}@example.com")],
        **kw,
    )


# --- recording ----------------------------------------------------------------------------


def test_an_inbound_message_is_stored_with_the_models_label_and_score(customer, now):
    row = record(customer, now, ANGRY)

    row.refresh_from_db()
    assert (row.sentiment_label, row.sentiment_score) == predict([ANGRY])[0]
    assert row.sentiment_label == "negative" and row.sentiment_score < -0.5


@pytest.mark.parametrize("direction", ["outbound", "note"])
def test_replies_and_notes_are_not_scored(customer, now, direction):
    row = record(customer, now, ANGRY, direction=direction)

    row.refresh_from_db()
    assert (row.sentiment_label, row.sentiment_score) == (None, None)


@pytest.mark.parametrize("body", ["", "   \n"])
def test_an_inbound_interaction_without_words_is_not_scored(customer, now, body):
    row = record(customer, now, body)

    row.refresh_from_db()
    assert row.sentiment_label is None and row.sentiment_score is None


def test_an_event_summary_is_not_scored(customer, now):
    row = record(customer, now, "Order Completed", customer_words=False)

    assert Interaction.objects.get(pk=row.pk).sentiment_label is None


def test_a_sentiment_the_caller_scored_already_is_stored_as_given(customer, now):
    row = record(customer, now, "meh", sentiment=("positive", 0.25))

    row.refresh_from_db()
    assert (row.sentiment_label, row.sentiment_score) == ("positive", 0.25)


@pytest.mark.parametrize("bad", [("furious", -0.5), ("negative", -1.5)])
def test_a_malformed_given_sentiment_is_refused_and_nothing_is_stored(customer, now, bad):
    with pytest.raises(InvalidInput) as exc:
        record(customer, now, "meh", sentiment=bad)

    assert exc.value.errors[0].field == "sentiment"
    assert Interaction.objects.count() == 0


def test_a_long_message_is_scored_on_its_opening(customer, now):
    body = HAPPY + " " + ("Lorem ipsum dolor sit amet. " * 200) + ANGRY * 50
    assert len(body) > SENTIMENT_MAX_CHARS

    row = record(customer, now, body)

    row.refresh_from_db()
    assert (row.sentiment_label, row.sentiment_score) == predict([body[:SENTIMENT_MAX_CHARS]])[0]


def test_a_batch_stores_its_inbound_messages_pending_and_the_worker_scores_them_in_one_pass(
    now, monkeypatch
):
    calls = []
    real = sentiment.sentiments_score

    def counting(texts):
        calls.append(list(texts))
        return real(texts)

    monkeypatch.setattr(sentiment, "sentiments_score", counting)
    items = [
        item(0, ANGRY),
        item(1, HAPPY),
        item(2, "We have shipped your order.", direction="outbound"),
        item(3, PLAIN),
        item(4, ""),
        item(5, "Page viewed", customer_words=False),
    ]

    # when a batch is ingested
    ids = interactions_ingest(items=items, now=now)

    # then nothing was read by the model yet: the three inbound texts wait for the worker
    assert calls == []
    assert Interaction.objects.filter(sentiment_label__isnull=False).count() == 0
    pending = [ids[0], ids[1], ids[3]]
    assert sorted(SentimentPending.objects.values_list("pk", flat=True)) == sorted(pending)
    assert interactions_sentiment_pending_count() == 3

    # when the worker drains them
    done = interactions_sentiment_score_all()

    # then each got the model's label and score, in one pass, and none is pending
    assert (done.messages, done.gone, done.batches) == (3, 0, 1)
    rows = Interaction.objects.in_bulk(ids)
    got = [(rows[i].sentiment_label, rows[i].sentiment_score) for i in ids]
    expected = predict([ANGRY, HAPPY, PLAIN])
    assert got == [expected[0], expected[1], (None, None), expected[2], (None, None), (None, None)]
    assert calls == [[ANGRY, HAPPY, PLAIN]]
    assert not SentimentPending.objects.exists()
    assert interactions_sentiment_score_all().batches == 0


def test_the_worker_scores_in_batches_and_drops_a_pending_row_whose_message_is_gone(now):
    ids = interactions_ingest(items=[item(n, ANGRY if n % 2 else HAPPY) for n in range(5)], now=now)
    Interaction.objects.filter(pk=ids[2]).delete()

    done = interactions_sentiment_score_all(limit=2)

    assert (done.messages, done.gone, done.batches) == (4, 1, 3)
    assert not SentimentPending.objects.exists()
    labels = dict(Interaction.objects.values_list("pk", "sentiment_label"))
    assert [labels.get(pk) for pk in ids] == ["positive", "negative", None, "negative", "positive"]


def test_a_repeated_batch_message_is_not_marked_pending_twice(now):
    [first] = interactions_ingest(items=[item(0, ANGRY)], now=now)
    [again] = interactions_ingest(items=[item(0, ANGRY)], now=now)

    assert again == first
    assert list(SentimentPending.objects.values_list("pk", flat=True)) == [first]


def test_a_batch_asks_the_worker_once_it_has_committed(now, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        interactions_ingest(items=[item(0, ANGRY), item(1, HAPPY)], now=now)
        interactions_ingest(items=[item(2, "ok", direction="outbound")], now=now)

    # one callback, for the batch with messages to score; the one without asks for nothing
    names = [getattr(c, "__name__", "") for c in callbacks]
    assert names.count("_sentiment_drain_soon") == 1


def test_a_batch_item_on_a_case_is_scored_too(case, now):
    items = [
        InteractionIn(
            channel="chat",
            direction="inbound",
            occurred_at=now - timedelta(minutes=5),
            body=ANGRY,
            source_id="chat-1",
            customer_id=case.customer_id,
            case_ref=case.ref,
        )
    ]

    [pk] = ingest_scored(items, now)

    row = Interaction.objects.get(pk=pk)
    assert row.case_id == case.pk
    assert (row.sentiment_label, row.sentiment_score) == predict([ANGRY])[0]


def test_a_repeated_message_keeps_its_first_sentiment(customer, now):
    first = record(customer, now, ANGRY, source_id="m-1")
    again = record(customer, now, HAPPY, source_id="m-1")

    assert again.pk == first.pk
    assert Interaction.objects.get(pk=first.pk).sentiment_label == "negative"


# --- filtering ----------------------------------------------------------------------------


def test_the_timeline_selector_filters_by_sentiment(customer, now):
    for n, body in enumerate([ANGRY, HAPPY, ANGRY, PLAIN]):
        record(customer, now, body, occurred_at=now - timedelta(minutes=10 - n))
    record(customer, now, ANGRY, direction="outbound")

    page = timeline(customer=customer, viewer=SYSTEM, sentiment="negative")

    assert [(r.body, r.direction) for r in page.items] == [(ANGRY, "inbound")] * 2
    with pytest.raises(InvalidInput):
        timeline(customer=customer, viewer=SYSTEM, sentiment="furious")


@pytest.fixture
def api(client, db):
    _, token = token_create(name="integration", now=datetime(2026, 11, 23, tzinfo=UTC))

    def get(path, **params):
        return client.get(f"/api/v1{path}", params, HTTP_AUTHORIZATION=f"Bearer {token}")

    return get


def test_the_interactions_api_lists_one_sentiment_newest_first_across_customers(api, now):
    bodies = [ANGRY, HAPPY, ANGRY, PLAIN, ANGRY]
    ingest_scored([item(n, b) for n, b in enumerate(bodies)], now)

    page1 = api("/interactions", sentiment="negative", limit=2).json()
    page2 = api("/interactions", sentiment="negative", limit=2, before=page1["next"]).json()

    got = [(i["source_id"], i["sentiment"]["label"]) for i in page1["items"] + page2["items"]]
    assert got == [("mail-4", "negative"), ("mail-2", "negative"), ("mail-0", "negative")]
    assert page2["next"] is None
    assert {i["customer"] for i in page1["items"] + page2["items"]} == {
        Interaction.objects.get(source_id=f"mail-{n}").customer_id for n in (0, 2, 4)
    }
    assert page1["items"][0]["sentiment"]["score"] == predict([ANGRY])[0][1]


def test_the_interactions_api_filters_one_customer_by_sentiment(api, now):
    ingest_scored([item(n, b) for n, b in enumerate([ANGRY, HAPPY, HAPPY, ANGRY])], now)
    cid = Interaction.objects.get(source_id="mail-0").customer_id  # c0: items 0 and 3

    r = api("/interactions", customer=cid, sentiment="positive")
    everything = api("/interactions", customer=cid)

    assert r.status_code == 200 and r.json()["items"] == []
    assert [i["source_id"] for i in everything.json()["items"]] == ["mail-3", "mail-0"]


def test_the_timeline_api_filters_by_sentiment_and_shows_it(api, now):
    ids = ingest_scored(
        [
            item(0, ANGRY),
            item(3, HAPPY),
            item(6, "Sorry for the wait.", direction="outbound"),
        ],
        now,
    )
    cid = Interaction.objects.get(pk=ids[0]).customer_id  # c0: every item

    positive = api(f"/customers/{cid}/timeline", sentiment="positive").json()["items"]
    every = api(f"/customers/{cid}/timeline").json()["items"]

    assert [i["body"] for i in positive] == [HAPPY]
    assert [i["sentiment"] and i["sentiment"]["label"] for i in every] == [
        None,
        "positive",
        "negative",
    ]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"sentiment": "furious"}, "sentiment"),
        ({}, "sentiment"),
        ({"channel": "chat"}, "sentiment"),
    ],
)
def test_the_interactions_api_refuses_a_bad_or_missing_filter(api, params, field):
    r = api("/interactions", **params)

    assert 400 <= r.status_code < 500
    assert field in json.dumps(r.json()["errors"])


def test_an_agent_lists_only_the_sentiment_of_customers_their_team_serves(
    client, case, alice, bob, charlie, now
):
    record(case.customer, now, ANGRY, case=case)
    stranger = customer_resolve(
        identities=[IdentityKey("email", "", "stranger@example.com")], now=now
    ).customer
    record(stranger, now, ANGRY)

    def listed(user):
        _, token = token_create(name=user.username, agent=Agent.objects.get(user=user), now=now)
        r = client.get(
            "/api/v1/interactions", {"sentiment": "negative"}, HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        assert r.status_code == 200
        return [i["customer"] for i in r.json()["items"]]

    assert listed(alice) == [case.customer_id]
    assert listed(bob) == [case.customer_id]
    assert listed(charlie) == []


# --- the console --------------------------------------------------------------------------


def test_the_console_timeline_shows_a_sentiment_badge_on_scored_messages(client, alice, case, now):
    record(case.customer, now - timedelta(minutes=2), ANGRY, case=case)
    record(
        case.customer,
        now - timedelta(minutes=1),
        "Sorry about that!",
        direction="outbound",
        case=case,
    )
    client.force_login(alice)

    html = client.get(f"/customers/{case.customer_id}/").content.decode()

    assert html.count('class="badge badge-sentiment"') == 1
    assert 'data-sentiment="negative"' in html and ">Negative</span>" in html


@pytest.fixture
def queue(tmp_path, monkeypatch):
    """The worker's queue, in a file of its own, with no drain asked for yet."""
    import huey.contrib.djhuey as djhuey

    from lastmile.core.queue import WaitingSqliteStorage

    monkeypatch.setattr(
        djhuey.HUEY, "storage", WaitingSqliteStorage("test", filename=str(tmp_path / "q.sqlite3"))
    )
    monkeypatch.setattr(sentiment, "_drain_at", 0.0)
    return djhuey.HUEY


def test_drains_are_asked_for_at_most_once_a_second_each_after_the_commit(queue, monkeypatch):
    from types import SimpleNamespace

    clock = [1_000.0]
    monkeypatch.setattr(sentiment, "time", SimpleNamespace(time=lambda: clock[0]))

    def asked() -> list[float | None]:  # each drain asked for: its delay (None: at once)
        return [
            None
            if t.eta is None
            else (t.eta - datetime.now(UTC).replace(tzinfo=None)).total_seconds()
            for t in queue.pending()
        ]

    # the first commit asks for a drain at once
    sentiment.sentiment_drain_soon()
    assert [t.name for t in queue.pending()] == ["score_sentiments"]
    assert asked() == [None]
    # a commit 0.2 s later asks for one when the second is over (the first may have begun)
    clock[0] += 0.2
    sentiment.sentiment_drain_soon()
    assert asked() == [None, pytest.approx(0.8, abs=0.15)]  # huey's eta is naive UTC
    # and commits before that drain starts ask for nothing more: it will see them
    clock[0] += 0.5
    sentiment.sentiment_drain_soon()
    assert len(asked()) == 2
    # once it has started, the next commit asks again, a second after it
    clock[0] += 0.4
    sentiment.sentiment_drain_soon()
    assert asked()[2] == pytest.approx(0.9, abs=0.15)


def test_a_batch_ingested_while_the_queue_is_down_is_kept_pending(
    now, queue, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from huey.storage import RedisStorage

    monkeypatch.setattr(queue, "storage", RedisStorage("down", url="redis://127.0.0.1:1/0"))
    with django_capture_on_commit_callbacks(execute=True):
        ids = interactions_ingest(items=[item(0, ANGRY), item(1, HAPPY)], now=now)

    assert "could not ask the worker to score sentiments" in caplog.text
    assert Interaction.objects.filter(pk__in=ids).count() == 2
    assert interactions_sentiment_pending_count() == 2  # for the every-minute drain


def test_metrics_count_the_messages_waiting_for_a_sentiment(now):
    from lastmile.core.metrics.collector import DatabaseCollector

    def pending() -> float:
        collected = {m.name: m for m in DatabaseCollector(clock=lambda: now).collect()}
        [sample] = collected["lastmile_sentiment_pending"].samples
        return sample.value

    assert pending() == 0
    interactions_ingest(items=[item(0, ANGRY), item(1, "ok", direction="outbound")], now=now)
    assert pending() == 1
    interactions_sentiment_score_all()
    assert pending() == 0


def test_the_process_command_scores_what_the_worker_would(now):
    from click.testing import CliRunner

    from lastmile.cli import main

    ids = interactions_ingest(items=[item(0, ANGRY), item(1, HAPPY)], now=now)

    result = CliRunner().invoke(main, ["sentiment", "process", "--quiet"])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2 messages scored in 1 batches")
    labels = dict(Interaction.objects.filter(pk__in=ids).values_list("pk", "sentiment_label"))
    assert [labels[pk] for pk in ids] == ["negative", "positive"]
    again = CliRunner().invoke(main, ["sentiment", "process"])
    assert again.exit_code == 0 and again.stdout == "no messages pending\n"
