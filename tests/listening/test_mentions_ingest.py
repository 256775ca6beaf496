"""Mentions: terms, sentiment, authors, the timeline, reply loops, the unattended queue."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.cases.models import Case
from lastmile.customers.models import Direction, Interaction
from lastmile.customers.services.timeline import interaction_record
from lastmile.listening.models import Author, Mention
from lastmile.listening.records import mention_in
from lastmile.listening.selectors import unattended
from lastmile.listening.services.mentions import mentions_ingest
from lastmile.listening.services.replies import mention_dismiss
from lastmile.listening.services.terms import watchterm_create
from lastmile.loops.models import Loop, LoopState, SlaPolicy
from lastmile.loops.services import loops_sweep
from lastmile.people.viewers import SYSTEM
from tests.customers.factories import IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def social_policy(db):
    return SlaPolicy.objects.create(
        name="Social",
        position=10,
        kind="reply",
        channel="social",
        first_reply_minutes=60,
        next_reply_minutes=120,
    )


@pytest.fixture
def terms(brand_term, now):
    card = watchterm_create(name="Acme card", query='"acme" AND card', kind="product", now=now)
    rival = watchterm_create(
        name="Northwind", query="northwind OR @NorthwindBank", kind="competitor", now=now
    )
    return {"brand": brand_term, "card": card, "rival": rival}


def post(ext, text, at, handle="jo_public", **kw):
    return mention_in(
        network="twitter", external_id=ext, author_handle=handle, text=text, posted_at=at, **kw
    )


def test_every_mention_gets_a_sentiment_label_and_score(terms, now):
    mentions_ingest(
        items=[
            post("1", "@AcmeBank you are useless, worst service ever, I hate this", now),
            post("2", "acme bank app is brilliant, love it, thank you!", now),
        ],
        now=now,
    )
    bad, good = Mention.objects.get(external_id="1"), Mention.objects.get(external_id="2")
    assert (bad.sentiment_label, good.sentiment_label) == ("negative", "positive")
    assert bad.sentiment_score < 0 < good.sentiment_score


def test_a_mention_records_the_watch_terms_it_matched(terms, now):
    mentions_ingest(
        items=[
            post("1", "acme bank card declined again", now),
            post("2", "northwind is cheaper than acme bank", now),
            post("3", "nothing to see here", now),
        ],
        now=now,
    )
    by_ext = {m.external_id: m for m in Mention.objects.prefetch_related("terms")}
    assert {t.name for t in by_ext["1"].terms.all()} == {"Acme", "Acme card"}
    assert {t.name for t in by_ext["2"].terms.all()} == {"Acme", "Northwind"}
    assert by_ext["2"].is_competitor and not by_ext["1"].is_competitor
    assert list(by_ext["3"].terms.all()) == []


def test_a_mention_addressed_to_the_brand_opens_a_reply_loop_on_the_authors_timeline(
    terms, social_policy, team, now
):
    # given a post to @AcmeBank by someone with a profile
    item = post(
        "100", "@AcmeBank my card was declined", now, author_name="Jo Public", author_followers=120
    )
    # when it is ingested
    result = mentions_ingest(items=[item], now=now)
    # then it is an inbound interaction on a case of the author's customer, with a reply loop
    m = Mention.objects.select_related("author", "customer", "case", "interaction").get()
    assert result.ids == [m.pk] and result.created == 1
    assert m.is_brand and not m.is_from_brand
    assert m.customer is not None and m.author.customer_id == m.customer_id
    assert m.customer.identities.filter(
        kind="social", network="twitter", value="jo_public"
    ).exists()
    assert m.interaction.direction == Direction.INBOUND
    assert m.interaction.channel == "social:twitter"
    assert m.interaction.case_id == m.case_id and m.case.team == team
    loop = m.reply_loop
    assert loop.state == LoopState.OPEN and loop.case_id == m.case_id
    assert loop.due_at == now + timedelta(minutes=60)


def test_a_post_that_only_names_the_brand_is_listening_not_a_reply_owed(terms, social_policy, now):
    mentions_ingest(items=[post("1", "acme bank has a new logo", now)], now=now)
    m = Mention.objects.get()
    assert not m.is_brand and m.case_id is None and m.interaction_id is None
    assert not Loop.objects.exists() and not Interaction.objects.exists()


def test_the_brands_reply_closes_the_reply_loop(terms, social_policy, now):
    ask = post("1", "@AcmeBank where is my refund", now)
    reply = post(
        "2",
        "@jo_public Sorry Jo, sending it now",
        now + timedelta(minutes=12),
        handle="AcmeBank",
        in_reply_to_id="1",
        in_reply_to_handle="jo_public",
    )
    mentions_ingest(items=[reply, ask], now=now + timedelta(hours=1))  # any order in a batch
    m, r = Mention.objects.get(external_id="1"), Mention.objects.get(external_id="2")
    assert r.is_from_brand and r.interaction.direction == Direction.OUTBOUND
    assert r.case_id == m.case_id
    assert m.reply_loop.state == LoopState.CLOSED
    assert m.reply_loop.closed_at == now + timedelta(minutes=12)
    assert m.replied_at == now + timedelta(minutes=12) and m.handled_at is not None


def test_a_reply_in_a_later_batch_closes_the_loop(terms, social_policy, now):
    mentions_ingest(items=[post("1", "@AcmeBank hello?", now)], now=now)
    mentions_ingest(
        items=[
            post(
                "2",
                "@jo_public hi!",
                now + timedelta(minutes=5),
                handle="acmebank",
                in_reply_to_id="1",
            )
        ],
        now=now + timedelta(minutes=5),
    )
    m = Mention.objects.get(external_id="1")
    assert m.reply_loop.state == LoopState.CLOSED and m.replied_at == now + timedelta(minutes=5)


def test_a_reply_imported_before_its_question_is_put_on_the_timeline_when_the_question_arrives(
    terms, social_policy, now
):
    # given the brand's reply alone (its question is further down the file)
    mentions_ingest(
        items=[
            post(
                "2",
                "@jo_public done",
                now + timedelta(minutes=3),
                handle="AcmeBank",
                in_reply_to_id="1",
            )
        ],
        now=now + timedelta(hours=1),
    )
    assert Mention.objects.get(external_id="2").interaction_id is None
    # when the question arrives
    mentions_ingest(
        items=[post("1", "@AcmeBank can you help", now, reply_ids=["2"])],
        now=now + timedelta(hours=1),
    )
    # then both are on one case, the loop opened and closed by the reply
    q, r = Mention.objects.get(external_id="1"), Mention.objects.get(external_id="2")
    assert r.interaction_id is not None and r.case_id == q.case_id
    assert q.conversation_id == r.conversation_id
    assert q.reply_loop.state == LoopState.CLOSED and q.replied_at == now + timedelta(minutes=3)


def test_posts_of_one_conversation_by_one_author_share_a_case(terms, social_policy, now):
    mentions_ingest(
        items=[
            post("1", "@AcmeBank card blocked", now, conversation_id="1"),
            post(
                "2",
                "@AcmeBank still blocked!!",
                now + timedelta(minutes=20),
                conversation_id="1",
                in_reply_to_id="1",
            ),
            post(
                "3",
                "@AcmeBank different question",
                now + timedelta(minutes=30),
                conversation_id="3",
            ),
        ],
        now=now + timedelta(minutes=30),
    )
    a, b, c = (Mention.objects.get(external_id=x) for x in "123")
    assert a.case_id == b.case_id != c.case_id
    assert a.reply_loop_id == b.reply_loop_id  # the open loop goes on; no second one
    assert Case.objects.count() == 2


def test_the_same_mentions_twice_are_stored_once(terms, social_policy, now):
    batch = [
        post("1", "@AcmeBank help", now),
        post(
            "2",
            "@jo_public on it",
            now + timedelta(minutes=1),
            handle="AcmeBank",
            in_reply_to_id="1",
        ),
        post("3", "northwind looks good", now, handle="sam"),
    ]
    first = mentions_ingest(items=batch, now=now)
    counts = [m.objects.count() for m in (Mention, Author, Interaction, Loop, Case)]
    again = mentions_ingest(items=batch + batch, now=now + timedelta(hours=1))
    assert again.ids == first.ids + first.ids
    assert (again.created, again.existing) == (0, 6)
    assert [m.objects.count() for m in (Mention, Author, Interaction, Loop, Case)] == counts
    assert Author.objects.get(handle="jo_public").mention_count == 1


def test_a_known_customer_is_found_by_their_handle(terms, social_policy, customer, now):
    IdentityFactory(customer=customer, kind="social", network="twitter", value="jo_public")
    mentions_ingest(items=[post("1", "@AcmeBank hi", now)], now=now)
    m = Mention.objects.get()
    assert m.customer_id == customer.pk and m.case.customer_id == customer.pk


def test_author_numbers_grow_with_each_new_mention(terms, now):
    mentions_ingest(
        items=[post("1", "northwind is fine", now, author_followers=1000, likes=10)], now=now
    )
    before = Author.objects.get()
    mentions_ingest(
        items=[
            post(
                "2",
                "northwind again",
                now + timedelta(days=1),
                author_followers=5000,
                likes=300,
                reposts=40,
            )
        ],
        now=now,
    )
    after = Author.objects.get()
    assert after.mention_count == 2 and after.followers == 5000
    assert after.engagement == 10 + 300 + 3 * 40
    assert after.influence > before.influence


def test_an_influential_negative_mention_gets_the_tighter_deadline(terms, social_policy, now):
    SlaPolicy.objects.create(
        name="Social — influential negative",
        position=5,
        kind="reply",
        channel="social",
        min_influence=60,
        sentiment="negative",
        first_reply_minutes=15,
    )
    mentions_ingest(
        items=[
            post(
                "1",
                "@AcmeBank froze my card abroad with no warning. Disgraceful, useless.",
                now,
                handle="star",
                author_followers=184_000,
                likes=2400,
                reposts=610,
                replies=180,
            ),
            post(
                "2",
                "@AcmeBank froze my card abroad with no warning. Disgraceful, useless.",
                now,
                handle="nobody",
                author_followers=200,
                likes=1,
            ),
            post(
                "3",
                "@AcmeBank thanks so much, brilliant help, love you guys!",
                now,
                handle="star2",
                author_followers=184_000,
                likes=2400,
                reposts=610,
            ),
        ],
        now=now,
    )
    star, nobody, happy = (Mention.objects.get(external_id=x) for x in "123")
    assert star.author.influence >= 60 > nobody.author.influence
    assert star.sentiment_label == nobody.sentiment_label == "negative"
    assert star.reply_loop.due_at == now + timedelta(minutes=15)
    assert star.reply_loop.sla_policy.name == "Social — influential negative"
    assert nobody.reply_loop.due_at == now + timedelta(minutes=60)
    assert happy.sentiment_label == "positive"
    assert happy.reply_loop.due_at == now + timedelta(minutes=60)


def test_unattended_lists_unanswered_brand_mentions_oldest_first(terms, social_policy, now, alice):
    mentions_ingest(
        items=[
            post("new", "@AcmeBank newer question", now, handle="b"),
            post("old", "@AcmeBank older question", now - timedelta(hours=3), handle="a"),
            post("done", "@AcmeBank answered one", now - timedelta(hours=5), handle="c"),
            post(
                "r", "@c sorted", now - timedelta(hours=4), handle="AcmeBank", in_reply_to_id="done"
            ),
            post("chat", "acme bank is ok I guess", now - timedelta(hours=6), handle="d"),
        ],
        now=now,
    )
    assert [m.external_id for m in unattended(viewer=alice)] == ["old", "new"]


def test_unattended_shows_an_agent_only_their_teams_brands(
    terms, social_policy, now, charlie, admin_user
):
    mentions_ingest(items=[post("1", "@AcmeBank hello", now)], now=now)
    assert list(unattended(viewer=charlie)) == []
    assert len(unattended(viewer=admin_user)) == 1
    assert len(unattended(viewer=SYSTEM)) == 1


def test_the_sweeper_escalates_an_unanswered_mention_like_any_loop(terms, social_policy, now):
    mentions_ingest(items=[post("1", "@AcmeBank anyone there?", now)], now=now)
    loops_sweep(now=now + timedelta(minutes=61))
    m = Mention.objects.get()
    assert m.reply_loop.breached_at == now + timedelta(minutes=60)
    assert m.replied_at is None  # still unattended: breached is not answered


def test_an_agent_reply_on_the_case_answers_the_mention(terms, social_policy, now, alice):
    mentions_ingest(items=[post("1", "@AcmeBank ping", now)], now=now)
    m = Mention.objects.get()
    at = now + timedelta(minutes=8)
    interaction_record(
        customer=m.customer,
        channel="social:twitter",
        direction=Direction.OUTBOUND,
        occurred_at=at,
        now=at,
        body="Hi! Looking now.",
        case=m.case,
        actor=alice,
    )
    m.refresh_from_db()
    assert m.reply_loop.state == LoopState.CLOSED
    assert m.replied_at == at and m.handled_at == at
    assert list(unattended(viewer=alice)) == []


def test_setting_a_mention_aside_cancels_its_loop(terms, social_policy, now, alice):
    mentions_ingest(items=[post("1", "@AcmeBank lol", now)], now=now)
    m = Mention.objects.get()
    mention_dismiss(mention=m, actor=alice, reason="a joke, no reply needed", now=now)
    m.refresh_from_db()
    assert m.handled_at == now and m.replied_at is None
    assert m.reply_loop.state == LoopState.CANCELLED
    assert list(unattended(viewer=alice)) == []


def test_setting_a_mention_aside_needs_a_reason(terms, social_policy, now, alice):
    from lastmile.core.errors import InvalidInput

    mentions_ingest(items=[post("1", "@AcmeBank lol", now)], now=now)
    m = Mention.objects.get()
    with pytest.raises(InvalidInput):
        mention_dismiss(mention=m, actor=alice, reason="  ", now=now)
    m.refresh_from_db()
    assert m.handled_at is None and m.reply_loop.state == LoopState.OPEN


def test_a_bad_batch_writes_nothing(terms, social_policy, now, monkeypatch):
    from lastmile.listening.services import writes

    real = writes.rows_update
    written = []

    def boom(model, *args, **kwargs):
        # The batch's last write, the authors: the mentions are in the table by then.
        if model is Author:
            written.append(Mention.objects.count())
            raise RuntimeError("disk full")
        return real(model, *args, **kwargs)

    monkeypatch.setattr(writes, "rows_update", boom)
    with pytest.raises(RuntimeError):
        mentions_ingest(items=[post("1", "@AcmeBank hi", now)], now=now)
    assert written == [1]
    assert not Mention.objects.exists() and not Interaction.objects.exists()
    assert not Loop.objects.exists() and not Author.objects.exists()


# --- a reply opens the case of a mention that is on none ----------------------------------------


def test_opening_the_case_of_a_mention_the_import_left_on_none_threads_like_the_import(
    terms, social_policy, team, bob, now
):
    from lastmile.listening.services.replies import mention_case_open

    # Given a post that names the brand without addressing it: no customer, no case
    mentions_ingest(items=[post("1", "acme bank card declined again", now)], now=now)
    plain = Mention.objects.get(external_id="1")
    assert plain.case_id is None and plain.customer_id is None and not plain.is_brand
    # When the brand takes it up
    later = now + timedelta(minutes=20)
    case = mention_case_open(mention=plain, team=team, actor=bob, now=later)
    # Then it is on a case of its author, as an inbound message at its time, owed a reply
    plain.refresh_from_db()
    assert plain.case == case and plain.customer == case.customer and plain.is_brand
    assert plain.author.customer == case.customer
    assert plain.interaction.direction == Direction.INBOUND
    assert plain.interaction.occurred_at == now
    assert plain.reply_loop.state == LoopState.OPEN and plain.reply_loop.opened_at == now
    assert plain in unattended(viewer=bob)
    # and a second call finds the same case and writes nothing
    rows = (Case.objects.count(), Interaction.objects.count(), Loop.objects.count())
    assert mention_case_open(mention=plain, team=team, actor=bob, now=later) == case
    assert (Case.objects.count(), Interaction.objects.count(), Loop.objects.count()) == rows
    # and the author's next post in that conversation, to the brand, threads onto it
    mentions_ingest(
        items=[
            post(
                "2",
                "@AcmeBank still declined",
                later + timedelta(minutes=5),
                in_reply_to_id="1",
                conversation_id=plain.conversation_id,
            )
        ],
        now=later + timedelta(minutes=5),
    )
    assert Mention.objects.get(external_id="2").case == case


def test_the_brands_own_post_gets_no_case(terms, team, bob, now):
    from lastmile.core.errors import Conflict
    from lastmile.listening.services.replies import mention_case_open

    mentions_ingest(items=[post("1", "acme bank news", now, handle="AcmeBank")], now=now)
    own = Mention.objects.get(external_id="1")
    assert own.is_from_brand
    with pytest.raises(Conflict):
        mention_case_open(mention=own, team=team, actor=bob, now=now)
    assert not Case.objects.exists()
