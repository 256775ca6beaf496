"""Case lists and editing a case in the console: take, assign, move, priority, tags, bulk."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from lastmile.cases.models import Case, SavedView
from lastmile.cases.selectors import case_history, case_tag_names, cases_visible, tag_names
from lastmile.cases.services import case_assign as case_assign_service
from lastmile.cases.services import (
    case_move,
    case_tags_set,
    case_take,
    case_update,
    cases_bulk_assign,
    cases_bulk_move,
    cases_bulk_priority,
    cases_bulk_status,
    cases_bulk_tag,
    saved_view_create,
    saved_view_delete,
)
from lastmile.console.case_forms import (
    BULK_ACTIONS,
    AssignForm,
    BulkForm,
    MoveForm,
    PriorityForm,
    SavedViewForm,
    SubjectForm,
    TagsForm,
)
from lastmile.console.case_selectors import (
    SCOPES,
    SORTS,
    case_list_page,
    case_query_parse,
)
from lastmile.console.pages import form_errors, page_chrome
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, InvalidInput, NotFound
from lastmile.customers.models import Channel
from lastmile.loops.bulk import loops_bulk_close, loops_bulk_reassign, open_loop_ids_of_cases
from lastmile.people.models import Team
from lastmile.people.selectors import (
    agents_sharing_a_team,
    every_team,
    person_name,
    team_by_slug,
    user_by_username,
    visible_team_ids,
)


def case_edit_context(
    request: HttpRequest, case: Case, *, now: datetime, forms: dict[str, Any]
) -> dict[str, Any]:
    """What ``console/_case_head.html`` needs on the case page: the edit forms, the tags and
    the history."""
    agents = agents_sharing_a_team(request.user)
    tags = case_tag_names(case_ids=[case.pk]).get(case.pk, [])
    return {
        "case_tags": tags,
        "case_history": case_history(case=case),
        "assign_form": forms.get("assign")
        or AssignForm(
            agents=agents, initial={"assignee": case.assignee.username if case.assignee else ""}
        ),
        "move_form": forms.get("move")
        or MoveForm(
            teams=every_team(),
            initial={"team": case.team.slug if case.team else ""},
        ),
        "priority_form": forms.get("priority") or PriorityForm(initial={"priority": case.priority}),
        "subject_form": forms.get("subject") or SubjectForm(initial={"subject": case.subject}),
        "tags_form": forms.get("tags") or TagsForm(initial={"tags": ", ".join(tags)}),
        "tag_names": tag_names(),
        "is_mine": case.assignee_id == request.user.pk,
    }


# --- the case page's edits ----------------------------------------------------------------


def _edit(name: str, form_class: Any, apply: Any, **form_kwargs: Any) -> Any:
    """A POST editing one thing on a case: parse ``form_class``, call one service via
    ``apply(request, case, data, now)``, which returns the flash message."""
    from lastmile.console.views import _invalid, case_action

    def fn(request: HttpRequest, case: Case, now: datetime) -> HttpResponse | str:
        kwargs = {key: value(request) for key, value in form_kwargs.items()}
        form = form_class(request.POST, **kwargs)
        if not form.is_valid():
            return _invalid(request, case, now, name, form)
        return str(apply(request, case, form, now))

    fn.__name__ = f"case_{name}"
    return case_action(fn)


def _take(request: HttpRequest, case: Case, form: Any, now: datetime) -> str:
    before = case.team_id
    taken = case_take(case=case, actor=request.user, now=now)
    if taken.team_id != before and taken.team is not None:
        return f"You have the case; it moved to {taken.team.name} with you."
    return "You have the case."


def _assign(request: HttpRequest, case: Case, form: Any, now: datetime) -> str:
    assignee = (
        user_by_username(form.cleaned_data["assignee"]) if form.cleaned_data["assignee"] else None
    )
    case_assign_service(case=case, assignee=assignee, actor=request.user, now=now)
    return f"Assigned to {person_name(assignee)}." if assignee else "Unassigned."


def _move(request: HttpRequest, case: Case, form: Any, now: datetime) -> str:
    team = team_by_slug(form.cleaned_data["team"])
    case_move(case=case, team=team, actor=request.user, now=now)
    return f"Moved to {team.name if team else 'no team'}."


def _priority(request: HttpRequest, case: Case, form: Any, now: datetime) -> str:
    case_update(case=case, priority=form.cleaned_data["priority"], actor=request.user, now=now)
    return f"Priority is now {form.cleaned_data['priority']}."


def _subject(request: HttpRequest, case: Case, form: Any, now: datetime) -> str:
    case_update(case=case, subject=form.cleaned_data["subject"], actor=request.user, now=now)
    return "Subject changed."


def _tags(request: HttpRequest, case: Case, form: Any, now: datetime) -> str:
    case = case_tags_set(case=case, tags=form.names(), actor=request.user, now=now)
    names = case_tag_names(case_ids=[case.pk]).get(case.pk, [])
    return f"Tags: {', '.join(names)}." if names else "No tags."


class _TakeForm(SubjectForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.clear()


case_take_view = _edit("take", _TakeForm, _take)
case_assign_view = _edit(
    "assign", AssignForm, _assign, agents=lambda r: agents_sharing_a_team(r.user)
)
case_move_view = _edit("move", MoveForm, _move, teams=lambda r: list(Team.objects.order_by("name")))
case_priority_view = _edit("priority", PriorityForm, _priority)
case_subject_view = _edit("subject", SubjectForm, _subject)
case_tags_view = _edit("tags", TagsForm, _tags)


def bulk_context(request: HttpRequest) -> dict[str, Any]:
    """What ``console/_cases_bulk.html`` needs (the inbox and the case lists)."""
    return {
        "bulk_actions": BULK_ACTIONS,
        "agents": agents_sharing_a_team(request.user),
        "all_teams": list(Team.objects.order_by("name")),
        "tag_names": tag_names(),
        "here": request.get_full_path(),
    }


# --- case lists ---------------------------------------------------------------------------


def _list_context(request: HttpRequest, now: datetime) -> dict[str, Any]:
    query = case_query_parse(request.GET)
    listing = case_list_page(
        viewer=request.user, query=query, now=now, page_number=request.GET.get("page")
    )
    teams = visible_team_ids(request.user)
    return {
        **page_chrome(request, now),
        "listing": listing,
        "q": query,
        "scopes": [s for s in SCOPES if s[0] != "all" or teams is None],
        "sorts": SORTS,
        "statuses": [
            ("unsolved", "Unsolved"),
            ("open", "Open"),
            ("pending", "Pending"),
            ("solved", "Solved"),
            ("closed", "Closed"),
            ("any", "Any status"),
        ],
        "priorities": Case._meta.get_field("priority").choices,
        "channels": Channel.choices,
        "all_teams": list(Team.objects.order_by("name")),
        "tag_names": tag_names(),
        "agents": agents_sharing_a_team(request.user),
        "bulk_actions": BULK_ACTIONS,
        "here": request.get_full_path(),
        "query_string": query.as_query(),
    }


@login_required
@require_GET
def case_lists(request: HttpRequest) -> HttpResponse:
    now = utcnow()
    context = _list_context(request, now)
    partial = (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Target") == "case-rows"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )
    response = render(
        request, "console/_cases_rows.html" if partial else "console/cases.html", context
    )
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def _back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default)


def _bulk_cases(request: HttpRequest, form: BulkForm, now: datetime) -> str:
    """One service call for the chosen action over the selected case ids."""
    data = form.cleaned_data
    ids, actor = data["ids"], request.user
    visible = cases_visible(viewer=request.user)
    action = data["action"]
    if action == "assign":
        assignee = user_by_username(data["assignee"]) if data["assignee"] else None
        return cases_bulk_assign(
            case_ids=ids, visible=visible, assignee=assignee, actor=actor, now=now
        ).message
    if action == "move":
        team = team_by_slug(data["team"])
        return cases_bulk_move(
            case_ids=ids, visible=visible, team=team, actor=actor, now=now
        ).message
    if action == "status":
        return cases_bulk_status(
            case_ids=ids, visible=visible, status=data["status"], actor=actor, now=now
        ).message
    if action == "priority":
        return cases_bulk_priority(
            case_ids=ids, visible=visible, priority=data["priority"], actor=actor, now=now
        ).message
    if action in ("tag", "untag"):
        change = {"add": [data["tag"]]} if action == "tag" else {"remove": [data["tag"]]}
        return cases_bulk_tag(case_ids=ids, visible=visible, actor=actor, now=now, **change).message
    # close: the open loops of those cases that the viewer's teams own
    if not visible.filter(pk__in=ids).count() == len(set(ids)):
        raise NotFound("case")
    loop_ids = open_loop_ids_of_cases(case_ids=ids, viewer=request.user)
    if not loop_ids:
        raise InvalidInput("none of these cases has an open loop of your teams")
    return loops_bulk_close(
        loop_ids=loop_ids, viewer=request.user, reason=data["reason"], actor=actor, now=now
    ).message


def _bulk_loops(request: HttpRequest, form: BulkForm, now: datetime) -> str:
    """The inbox's rows are loops: assign, move and close act on them; status, priority and
    tags on their cases (those the viewer may open)."""
    data = form.cleaned_data
    ids, actor, action = data["ids"], request.user, data["action"]
    if action == "assign":
        assignee = user_by_username(data["assignee"]) if data["assignee"] else None
        return loops_bulk_reassign(
            loop_ids=ids, viewer=request.user, assignee=assignee, actor=actor, now=now
        ).message
    if action == "move":
        team = team_by_slug(data["team"])
        return loops_bulk_reassign(
            loop_ids=ids, viewer=request.user, team=team, actor=actor, now=now
        ).message
    if action == "close":
        return loops_bulk_close(
            loop_ids=ids, viewer=request.user, reason=data["reason"], actor=actor, now=now
        ).message
    from lastmile.loops.selectors import loops_visible

    case_ids = list(
        loops_visible(viewer=request.user)
        .filter(pk__in=ids, case__isnull=False)
        .values_list("case_id", flat=True)
        .distinct()
    )
    if not case_ids:
        raise InvalidInput("none of these loops is on a case")
    form.cleaned_data["ids"] = case_ids
    return _bulk_cases(request, form, now)


def _bulk(request: HttpRequest, run: Any, default: str) -> HttpResponse:
    form = BulkForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Check the bulk action: " + form_errors(form))
        return _back(request, default)
    try:
        messages.success(request, run(request, form, utcnow()))
    except DomainError as exc:
        messages.error(request, exc.detail[:1].upper() + exc.detail[1:])
    return _back(request, default)


@login_required
@require_POST
def cases_bulk(request: HttpRequest) -> HttpResponse:
    return _bulk(request, _bulk_cases, "console:cases")


@login_required
@require_POST
def inbox_bulk(request: HttpRequest) -> HttpResponse:
    return _bulk(request, _bulk_loops, "console:inbox")


@login_required
@require_POST
def saved_view_save(request: HttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Check the view: " + form_errors(form))
        return redirect("console:cases")
    query = case_query_parse(form.cleaned_data["query"]).as_query()
    try:
        team = team_by_slug(form.cleaned_data["team"]) if form.cleaned_data["team"] else None
        view = saved_view_create(
            name=form.cleaned_data["name"], query=query, team=team, actor=request.user, now=utcnow()
        )
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("console:cases")
    messages.success(request, f"Saved “{view.name}”{' for ' + team.name if team else ''}.")
    return redirect(f"{_cases_url()}?{query}" if query else _cases_url())


@login_required
@require_POST
def saved_view_remove(request: HttpRequest, view_id: int) -> HttpResponse:
    view = SavedView.objects.select_related("team").filter(pk=view_id).first()
    try:
        if view is None:
            raise NotFound(f"view {view_id}")
        saved_view_delete(view=view, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("console:cases")
    messages.success(request, f"Deleted “{view.name}”.")
    return redirect("console:cases")


def _cases_url() -> str:
    from django.urls import reverse

    return reverse("console:cases")
