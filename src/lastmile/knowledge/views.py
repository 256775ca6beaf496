"""Console pages for the knowledge base: search, read, write (the owning team or an admin)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from lastmile.console.pages import page_chrome
from lastmile.console.views import error_response
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, NotFound, PermissionDenied
from lastmile.knowledge import services
from lastmile.knowledge.models import Article
from lastmile.knowledge.selectors import article_get, article_list, articles_search, tags_in_use
from lastmile.people.models import Team
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import Viewer


class SearchForm(forms.Form):
    q = forms.CharField(max_length=500, required=False, strip=True)
    tag = forms.CharField(max_length=40, required=False)
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"), required=False, to_field_name="slug"
    )
    public = forms.BooleanField(required=False, label="Public only")


class ArticleForm(forms.Form):
    title = forms.CharField(max_length=200)
    body_md = forms.CharField(
        label="Body (Markdown)", widget=forms.Textarea(attrs={"rows": 18}), required=False
    )
    tags = forms.CharField(max_length=1000, required=False, help_text="Separated by commas.")
    policy_keys = forms.CharField(
        max_length=2000, required=False, help_text="Keys of the policies this article explains."
    )
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False)
    public = forms.BooleanField(required=False, label="Public (customers see it in the portal)")

    def __init__(self, *args: Any, teams: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams

    @staticmethod
    def words(value: str) -> list[str]:
        return [w.strip() for w in (value or "").split(",") if w.strip()]


def _writable_teams(user: Viewer) -> QuerySet[Team]:
    ids = visible_team_ids(user)
    qs = Team.objects.order_by("name")
    return qs if ids is None else qs.filter(pk__in=ids)


def can_write(user: Viewer, article: Article | None) -> bool:
    ids = visible_team_ids(user)
    if ids is None:
        return True
    return article is not None and article.team_id in ids


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    form.is_valid()
    data = form.cleaned_data
    q, team = data.get("q") or "", data.get("team")
    hits, page = None, None
    if q:
        hits = articles_search(q, public_only=bool(data.get("public")), team=team, limit=30)
        if data.get("tag"):
            hits = [h for h in hits if data["tag"].lower() in h.article.tags]
    else:
        qs = article_list(public_only=bool(data.get("public")), team=team, tag=data.get("tag"))
        page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "knowledge/index.html",
        {
            **page_chrome(request, utcnow()),
            "form": form,
            "q": q,
            "hits": hits,
            "page": page,
            "tags": tags_in_use()[:30],
            "can_create": visible_team_ids(request.user) != set(),
        },
    )


@login_required
@require_GET
def detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        article = article_get(slug=slug)
    except NotFound as exc:
        return error_response(request, exc)
    return render(
        request,
        "knowledge/article.html",
        {
            **page_chrome(request, utcnow()),
            "article": article,
            "can_write": can_write(request.user, article),
        },
    )


def _edit(request: HttpRequest, article: Article | None) -> HttpResponse:
    teams = _writable_teams(request.user)
    status, error = 200, None
    if request.method == "POST":
        form = ArticleForm(request.POST, teams=teams)
        if form.is_valid():
            d = form.cleaned_data
            fields = {
                "title": d["title"],
                "body_md": d["body_md"],
                "tags": form.words(d["tags"]),
                "policy_keys": form.words(d["policy_keys"]),
                "team": d["team"],
                "public": d["public"],
            }
            try:
                if article is None:
                    saved = services.article_create(actor=request.user, now=utcnow(), **fields)
                else:
                    saved = services.article_update(
                        article=article, actor=request.user, now=utcnow(), **fields
                    )
            except DomainError as exc:
                status, error = exc.status, exc.detail
            else:
                messages.success(request, "Article saved.")
                return redirect("knowledge:detail", saved.slug)
        else:
            status, error = 422, "Check the form."
    elif article is not None:
        form = ArticleForm(
            initial={
                "title": article.title,
                "body_md": article.body_md,
                "tags": ", ".join(article.tags or []),
                "policy_keys": ", ".join(article.policy_keys or []),
                "team": article.team,
                "public": article.public,
            },
            teams=teams,
        )
    else:
        mine = teams.first() if visible_team_ids(request.user) is not None else None
        form = ArticleForm(initial={"team": mine}, teams=teams)
    return render(
        request,
        "knowledge/edit.html",
        {**page_chrome(request, utcnow()), "form": form, "article": article, "error": error},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        article = article_get(slug=slug)
    except NotFound as exc:
        return error_response(request, exc)
    if not can_write(request.user, article):
        return error_response(
            request,
            PermissionDenied(
                f"only {article.team.name if article.team_id else 'an admin'} may edit this article"
            ),
        )
    return _edit(request, article)
