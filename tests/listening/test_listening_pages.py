"""Console pages: mentions with filters, unattended, influencers, an author; setting aside."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from lastmile.listening.models import Author, Mention
from lastmile.listening.records import mention_in
from lastmile.listening.services.mentions import mentions_ingest
from lastmile.listening.services.terms import watchterm_create
from lastmile.loops.models import LoopState, SlaPolicy

pytestmark = pytest.mark.django_db


def post(ext, text, at, handle="jo", **kw):
    return mention_in(
        network="twitter", external_id=ext, author_handle=handle, text=text, posted_at=at, **kw
    )


@pytest.fixture
def data(brand_term, now):
    SlaPolicy.objects.create(
        name="Social", position=10, kind="reply", channel="social", first_reply_minutes=60
    )
    watchterm_create(name="Northwind", query="northwind", kind="competitor", now=now)
    mentions_ingest(
        items=[
            post(
                "old",
                "@AcmeBank I hate this, awful useless service",
                now - timedelta(hours=3),
                handle="old_timer",
                author_followers=50,
            ),
            post(
                "new",
                "@AcmeBank quick question about savings",
                now - timedelta(minutes=30),
                handle="newbie",
                author_followers=10,
            ),
            post(
                "rival",
                "northwind is wonderful, love their app",
                now - timedelta(hours=1),
                handle="star",
                author_followers=90_000,
                likes=500,
            ),
        ],
        now=now,
    )


def test_pages_need_a_login(client):
    for url in ("/listening/", "/listening/unattended/", "/listening/influencers/"):
        r = client.get(url)
        assert r.status_code == 302 and "login" in r["Location"]


def test_the_mentions_page_lists_and_filters(client, alice, data):
    client.force_login(alice)
    page = client.get("/listening/").content.decode()
    assert "quick question about savings" in page and "northwind is wonderful" in page
    assert 'data-sentiment="negative"' in page
    neg = client.get("/listening/", {"sentiment": "negative"}).content.decode()
    assert "I hate this" in neg and "northwind is wonderful" not in neg
    rival = client.get("/listening/", {"scope": "competitor"}).content.decode()
    assert "northwind is wonderful" in rival and "savings" not in rival
    open_ = client.get("/listening/", {"unanswered": "1"}).content.decode()
    assert "savings" in open_ and "northwind is wonderful" not in open_
    # nonsense filter values are ignored, not a 500
    assert (
        client.get("/listening/", {"sentiment": "x", "term": "abc", "page": "9"}).status_code == 200
    )


def test_the_mentions_page_answers_htmx_with_the_rows_only(client, alice, data):
    client.force_login(alice)
    r = client.get("/listening/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="mention-rows")
    body = r.content.decode()
    assert r.status_code == 200 and body.lstrip().startswith('<section id="mention-rows"')


def test_the_mentions_page_costs_a_fixed_number_of_queries(
    client, alice, data, now, django_assert_max_num_queries
):
    client.force_login(alice)
    client.get("/listening/")
    mentions_ingest(
        items=[post(f"x{i}", f"northwind number {i}", now, handle=f"h{i}") for i in range(20)],
        now=now,
    )
    with django_assert_max_num_queries(14):
        assert client.get("/listening/").status_code == 200


def test_unattended_shows_the_oldest_first_with_age_and_influence(client, alice, data, now):
    client.force_login(alice)
    with time_machine.travel(now, tick=False):  # the page reads the clock for the ages
        body = client.get("/listening/unattended/").content.decode()
    assert body.index("I hate this") < body.index("quick question")
    assert "3 h" in body and "30 min" in body  # how long each has waited
    assert "influence" in body and "northwind" not in body


def test_an_outsider_sees_no_other_teams_unattended_mentions(client, charlie, data):
    client.force_login(charlie)
    body = client.get("/listening/unattended/").content.decode()
    assert "quick question" not in body and "Every brand mention has an answer" in body


def test_setting_aside_from_the_page(client, alice, data):
    client.force_login(alice)
    m = Mention.objects.get(external_id="new")
    r = client.post(f"/listening/mentions/{m.pk}/dismiss", {"reason": "answered by phone"})
    assert r.status_code == 302
    m.refresh_from_db()
    assert m.handled_at is not None and m.reply_loop.state == LoopState.CANCELLED


def test_an_outsider_cannot_set_aside_a_teams_mention(client, charlie, data):
    client.force_login(charlie)
    m = Mention.objects.get(external_id="new")
    r = client.post(f"/listening/mentions/{m.pk}/dismiss", {"reason": "not mine"})
    assert r.status_code == 403
    m.refresh_from_db()
    assert m.handled_at is None and m.reply_loop.state == LoopState.OPEN


def test_setting_aside_without_a_reason_is_refused(client, alice, data):
    client.force_login(alice)
    m = Mention.objects.get(external_id="new")
    r = client.post(f"/listening/mentions/{m.pk}/dismiss", {"reason": ""})
    assert r.status_code == 422
    m.refresh_from_db()
    assert m.handled_at is None


def test_influencers_are_listed_by_influence_with_recent_mentions(client, alice, data):
    client.force_login(alice)
    body = client.get("/listening/influencers/").content.decode()
    assert body.index("@star") < body.index("@old_timer")
    assert "northwind is wonderful" in body


def test_the_author_page_shows_their_numbers_and_mentions(client, alice, data):
    client.force_login(alice)
    a = Author.objects.get(handle="old_timer")
    body = client.get(f"/listening/authors/{a.pk}/").content.decode()
    assert "@old_timer" in body and "I hate this" in body
    assert "customer timeline" in body  # a brand mention made them a customer
    assert client.get("/listening/authors/999999/").status_code == 404


def test_the_nav_links_to_mentions(client, alice, data):
    client.force_login(alice)
    body = client.get("/").content.decode()
    assert 'href="/listening/"' in body
