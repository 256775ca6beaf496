"""The knowledge base in the console: search page, article page, editing, case suggestions."""

from __future__ import annotations

import pytest

from lastmile.customers.services.timeline import interaction_record
from lastmile.knowledge.models import Article
from lastmile.knowledge.services import article_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture
def articles(team, other_team, now):
    return [
        article_create(
            title="Online banking activation",
            body_md="An **activation code** is sent by SMS. <img src=x onerror=alert(1)>",
            tags=["online-banking"],
            team=other_team,
            public=True,
            now=now,
        ),
        article_create(
            title="Card declined",
            body_md="Check whether the card is linked.",
            tags=["cards"],
            team=team,
            now=now,
        ),
    ]


def test_the_search_page_ranks_results(client, alice, articles):
    client.force_login(alice)
    page = client.get("/kb/", {"q": "activation code"}).content.decode()
    assert "Online banking activation" in page and "Card declined" not in page
    assert "1 result for" in page


def test_the_index_lists_and_filters_by_tag(client, alice, articles):
    client.force_login(alice)
    page = client.get("/kb/").content.decode()
    assert "Online banking activation" in page and "Card declined" in page
    page = client.get("/kb/", {"tag": "cards"}).content.decode()
    assert "Card declined" in page and "Online banking activation" not in page


def test_an_article_page_renders_markdown_without_script(client, charlie, articles):
    client.force_login(charlie)
    page = client.get("/kb/online-banking-activation/").content.decode()
    assert "<strong>activation code</strong>" in page
    body = page.split('class="kb-body"')[1].split("</div>")[0]
    assert "<img" not in body and "&lt;img src=x onerror=alert(1)&gt;" in body


def test_the_login_page_guards_the_kb(client, articles):
    assert client.get("/kb/").status_code == 302


def test_an_agent_edits_only_their_teams_articles(client, alice, articles):
    client.force_login(alice)
    assert client.get("/kb/online-banking-activation/edit/").status_code == 403
    r = client.post(
        "/kb/card-declined/edit/",
        {
            "title": "Card declined: check the link",
            "body_md": "Linked?",
            "tags": "cards, Declined",
            "policy_keys": "",
            "team": str(articles[1].team_id),
        },
    )
    assert r.status_code == 302
    article = Article.objects.get(slug="card-declined")
    assert article.title == "Card declined: check the link" and article.tags == [
        "cards",
        "declined",
    ]


def test_a_new_article_from_the_console(client, alice, team):
    client.force_login(alice)
    r = client.post(
        "/kb/new/",
        {"title": "PIN reset", "body_md": "At any cash machine.", "tags": "", "team": str(team.pk)},
    )
    assert r.status_code == 302 and r["Location"] == "/kb/pin-reset/"
    bad = client.post("/kb/new/", {"title": "x", "tags": "not ok!", "team": str(team.pk)})
    assert bad.status_code == 422 and Article.objects.count() == 1


def test_the_case_page_suggests_articles_from_the_case(client, alice, case, articles, now):
    interaction_record(
        customer=case.customer,
        case=case,
        channel="email",
        direction="inbound",
        occurred_at=now,
        now=now,
        body="I never got the activation code for online banking",
    )
    client.force_login(alice)
    page = client.get(f"/cases/{case.ref}/").content.decode()
    panel = page.split('id="suggested-articles"')[1].split("</section>")[0]
    assert "Online banking activation" in panel and "Card declined" not in panel


def test_admin_screens_render_and_check_fields(client, staff, articles):
    assert client.get("/admin/knowledge/article/").status_code == 200
    assert client.get("/admin/knowledge/article/add/").status_code == 200
    r = client.post(
        "/admin/knowledge/article/add/",
        {
            "title": "Admin article",
            "slug": "admin-article",
            "body_md": "Body",
            "tags": '["Bad Tag!"]',
            "policy_keys": "[]",
        },
    )
    assert r.status_code == 200 and not Article.objects.filter(slug="admin-article").exists()
    r = client.post(
        "/admin/knowledge/article/add/",
        {
            "title": "Admin article",
            "slug": "admin-article",
            "body_md": "Searchable body words",
            "tags": '["Admin"]',
            "policy_keys": "[]",
        },
    )
    assert r.status_code == 302
    assert Article.objects.get(slug="admin-article").tags == ["admin"]
    from lastmile.knowledge.selectors import articles_search

    assert [h.article.slug for h in articles_search("searchable")] == ["admin-article"]
