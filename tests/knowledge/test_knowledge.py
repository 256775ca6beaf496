"""Knowledge base: articles, safe Markdown, ranked full-text search on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from lastmile.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lastmile.customers.services.timeline import interaction_record
from lastmile.knowledge.models import Article
from lastmile.knowledge.rendering import excerpt, markdown_html
from lastmile.knowledge.selectors import (
    article_get_public,
    article_list,
    articles_public,
    articles_search,
    articles_suggest_for_case,
    search_terms,
    suggestion_query,
)
from lastmile.knowledge.services import (
    article_create,
    article_delete,
    article_put,
    article_update,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def kb(team, other_team, now):
    """Three articles with distinct words, one public."""
    return {
        "declined": article_create(
            title="Card declined abroad",
            body_md="When a **card is declined** abroad, check the travel flag and the daily limit.",
            tags=["cards", "travel"],
            team=team,
            public=True,
            policy_keys=["card-travel-flag"],
            now=now,
        ),
        "online": article_create(
            title="Enable online banking",
            body_md="The back office registers the account for online banking and an activation "
            "code is sent by SMS within one working day.",
            tags=["online-banking", "accounts"],
            team=other_team,
            now=now,
        ),
        "upgrade": article_create(
            title="Room upgrades for Gold members",
            body_md="Gold members may be offered a complimentary upgrade when available.",
            tags=["hotel", "membership"],
            now=now,
        ),
    }


def slugs(hits):
    return [h.article.slug for h in hits]


# --- search ------------------------------------------------------------------------------------


def test_search_finds_by_stemmed_words_in_title_and_body(kb):
    assert slugs(articles_search("declining cards")) == ["card-declined-abroad"]
    assert slugs(articles_search("activation codes")) == ["enable-online-banking"]


def test_search_needs_every_word_by_default(kb):
    assert articles_search("card upgrade") == []
    assert set(slugs(articles_search("card upgrade", match="any"))) == {
        "card-declined-abroad",
        "room-upgrades-for-gold-members",
    }


def test_a_title_match_outranks_a_body_match(now, kb):
    article_create(
        title="Travel insurance",
        body_md="Cover for trips abroad. Nothing about blocked payments.",
        now=now,
    )
    article_create(
        title="Blocked payments",
        body_md="Why a payment is blocked and what to do.",
        now=now,
    )
    hits = articles_search("blocked", limit=5)
    assert slugs(hits)[0] == "blocked-payments"
    assert hits[0].rank > hits[1].rank


def test_search_finds_tags(kb):
    assert slugs(articles_search("membership")) == ["room-upgrades-for-gold-members"]


def test_search_follows_edits_and_deletes(kb, now):
    article_update(article=kb["upgrade"], body_md="Suites are offered on anniversaries.", now=now)
    assert slugs(articles_search("anniversaries")) == ["room-upgrades-for-gold-members"]
    assert articles_search("complimentary") == []
    article_delete(article=kb["upgrade"], now=now)
    assert articles_search("anniversaries") == []


def test_search_can_be_limited_to_public_articles_or_a_team(kb, team):
    assert slugs(articles_search("card", public_only=True)) == ["card-declined-abroad"]
    assert articles_search("online banking", public_only=True) == []
    assert articles_search("online banking", team=team) == []


@pytest.mark.parametrize(
    "query",
    [
        'card" OR "x',
        "NEAR(card declined)",
        "card*",
        "title:card",
        "-card",
        "card AND NOT declined",
        "'; DROP TABLE knowledge_article; --",
        "card & !declined | (",
        '"unbalanced',
        "^card",
        "{title body}: card",
    ],
)
def test_query_syntax_in_the_users_words_is_only_text(kb, query):
    hits = articles_search(query, match="any")
    assert all(isinstance(h.article, Article) for h in hits)
    assert Article.objects.count() == 3


def test_a_query_of_punctuation_finds_nothing(kb):
    assert articles_search('"*()') == [] and articles_search("") == []


def test_search_terms_are_bounded():
    assert len(search_terms(" ".join(f"w{i}" for i in range(100)))) == 32
    assert search_terms("Card card CARD declined") == ["card", "declined"]


def test_the_same_ranking_order_on_either_database(kb, now):
    # Two words in the title beat one word in the body, whichever engine ranks.
    article_create(title="Online card payments", body_md="Paying online with a card.", now=now)
    hits = articles_search("online card", match="any", limit=5)
    assert slugs(hits)[0] == "online-card-payments"
    assert connection.vendor in ("sqlite", "postgresql")


# --- suggestions ---------------------------------------------------------------------------------


def test_suggestions_come_from_the_case_subject_and_inbound_messages(kb, case, now):
    case.subject = "Can't log in"
    case.save()
    interaction_record(
        customer=case.customer,
        case=case,
        channel="email",
        direction="inbound",
        occurred_at=now,
        now=now,
        body="My account was opened but online banking is not enabled and no code came.",
    )
    assert slugs(articles_suggest_for_case(case))[0] == "enable-online-banking"


def test_suggestions_ignore_outbound_messages_and_stop_words(kb, case, now):
    case.subject = "Question"
    case.save()
    interaction_record(
        customer=case.customer,
        case=case,
        channel="email",
        direction="outbound",
        occurred_at=now,
        now=now,
        body="Gold members get upgrades",
    )
    assert articles_suggest_for_case(case) == []
    assert suggestion_query(["The card and the card, please, 4821"]) == "card"


# --- the portal's selectors -----------------------------------------------------------------------


def test_public_articles_only_for_customers(kb):
    assert [a.slug for a in articles_public()] == ["card-declined-abroad"]
    assert [a.slug for a in articles_public("declined")] == ["card-declined-abroad"]
    assert articles_public("online banking") == []
    assert article_get_public("card-declined-abroad").title == "Card declined abroad"
    with pytest.raises(NotFound):
        article_get_public("enable-online-banking")
    with pytest.raises(NotFound):
        article_get_public("no-such-article")


def test_articles_by_tag(kb):
    assert [a.slug for a in article_list(tag="travel")] == ["card-declined-abroad"]
    assert [a.slug for a in articles_public(tag="hotel")] == []
    assert list(article_list(tag="trav")) == []


# --- writing -------------------------------------------------------------------------------------


def test_fields_are_checked_and_nothing_is_written_on_error(now):
    with pytest.raises(InvalidInput) as exc:
        article_create(
            title=" ",
            body_md="x",
            tags=["ok", "not ok!"],
            policy_keys=["Bad Key"],
            now=now,
        )
    assert {e.field for e in exc.value.errors} == {"title", "tags[1]", "policy_keys[0]"}
    assert Article.objects.count() == 0


def test_tags_are_lower_cased_and_deduplicated(now):
    a = article_create(title="T", body_md="", tags=["Cards", "cards", "PIN"], now=now)
    assert a.tags == ["cards", "pin"]


def test_slugs_are_unique(now):
    a = article_create(title="Same title", body_md="", now=now)
    b = article_create(title="Same title", body_md="", now=now)
    assert (a.slug, b.slug) == ("same-title", "same-title-2")
    with pytest.raises(Conflict):
        article_create(title="Other", body_md="", slug="same-title", now=now)


def test_put_twice_writes_once(now, team):
    first, created = article_put(
        slug="pin-reset", title="Reset a PIN", body_md="At a cash machine.", team=team, now=now
    )
    again, created2 = article_put(
        slug="pin-reset",
        title="Reset a PIN",
        body_md="At a cash machine.",
        team=team,
        now=now + timedelta(hours=1),
    )
    assert (created, created2) == (True, False)
    assert again.updated_at == now and Article.objects.count() == 1


def test_only_the_owning_team_or_an_admin_writes(kb, alice, bob, charlie, admin_user, now):
    with pytest.raises(PermissionDenied):
        article_update(article=kb["declined"], title="Hijacked", actor=charlie, now=now)
    assert Article.objects.get(pk=kb["declined"].pk).title == "Card declined abroad"
    article_update(article=kb["declined"], title="Card declined abroad?", actor=bob, now=now)
    with pytest.raises(PermissionDenied):
        article_create(title="No team", body_md="", actor=alice, now=now)
    with pytest.raises(PermissionDenied):
        article_update(article=kb["declined"], team=kb["online"].team, actor=alice, now=now)
    article_update(article=kb["upgrade"], title="Upgrades", actor=admin_user, now=now)


# --- rendering -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        "![x](javascript:alert(1))",
        "<iframe src='https://evil.example'></iframe>",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    ],
)
def test_markdown_cannot_carry_script(markdown):
    elements = _elements(str(markdown_html(markdown)))
    assert not {tag for tag, _ in elements} & {"script", "iframe", "object", "embed", "style"}
    for _tag, attrs in elements:
        for name, value in attrs:
            assert not name.startswith("on")
            if name in ("href", "src"):
                assert value.split(":")[0].strip().lower() in ("http", "https", "mailto", "tel")


def _elements(html):
    """(tag, attributes) of every element in ``html``."""
    from html.parser import HTMLParser

    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collect().feed(html)
    return found


def test_markdown_renders_the_usual_things():
    html = str(
        markdown_html("# Title\n\n**bold** and [a link](https://example.com)\n\n- one\n- two")
    )
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">a link</a>' in html
    assert "<li>one</li>" in html


def test_an_excerpt_is_around_the_first_match():
    body = "Intro words. " * 40 + "The activation code comes by SMS." + " More." * 40
    text = excerpt(body, ["activation"])
    assert "activation code" in text and text.startswith("…")
    assert len(text) <= 224
