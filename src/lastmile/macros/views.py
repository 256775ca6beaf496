"""The console's "My macros": an agent's personal macros and the shared ones of the teams
they lead (admins: every team's). Each page parses its form and calls one selector or the
one service that writes macros (the admin calls the same); its refusals come back on the
form's fields, in the service's words."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from lastmile.console.pages import page_chrome
from lastmile.console.views import error_response
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, InvalidInput
from lastmile.macros.forms import MacroForm
from lastmile.macros.models import Macro
from lastmile.macros.selectors import macro_get_writable, macro_page, macro_teams_for_sharing
from lastmile.macros.services import macro_delete, macro_save

# The service names the team field ``team``; the form asks it as ``scope``.
FORM_FIELD = {"team": "scope"}


@login_required
@require_GET
def macro_list(request: HttpRequest) -> HttpResponse:
    now = utcnow()
    page = macro_page(viewer=request.user, page_number=request.GET.get("page"))
    return render(
        request,
        "macros/list.html",
        {
            **page_chrome(request, now),
            "page": page,
            "teams": macro_teams_for_sharing(viewer=request.user),
        },
    )


def _edit(request: HttpRequest, macro: Macro | None) -> HttpResponse:
    teams = macro_teams_for_sharing(viewer=request.user)
    status, error = 200, ""
    if request.method == "POST":
        form = MacroForm(request.POST, teams=teams)
        if form.is_valid():
            team = form.team()
            try:
                saved = macro_save(
                    macro=macro,
                    name=form.cleaned_data["name"],
                    body=form.cleaned_data["body"],
                    owner=None
                    if team
                    else (macro.owner if macro and macro.owner else request.user),
                    team=team,
                    set_status=form.cleaned_data["set_status"],
                    add_tag=form.cleaned_data["add_tag"],
                    pause_reply_loop=form.cleaned_data["pause_reply_loop"],
                    actor=request.user,
                    now=utcnow(),
                )
            except InvalidInput as exc:
                for err in exc.errors:
                    field = FORM_FIELD.get(err.field, err.field)
                    form.add_error(field if field in form.fields else None, err.reason)
                status = exc.status
            except DomainError as exc:
                status, error = exc.status, exc.detail
            else:
                messages.success(request, f"Macro “{saved.name}” saved.")
                return redirect("macros:list")
        else:
            status = 422
    else:
        form = MacroForm(initial=MacroForm.initial_of(macro) if macro else None, teams=teams)
    return render(
        request,
        "macros/edit.html",
        {**page_chrome(request, utcnow()), "form": form, "macro": macro, "error": error},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def macro_new(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@login_required
@require_http_methods(["GET", "POST"])
def macro_edit(request: HttpRequest, macro_id: int) -> HttpResponse:
    try:
        macro = macro_get_writable(macro_id=macro_id, viewer=request.user)
    except DomainError as exc:
        return error_response(request, exc)
    return _edit(request, macro)


@login_required
@require_http_methods(["GET", "POST"])
def macro_delete_page(request: HttpRequest, macro_id: int) -> HttpResponse:
    """GET asks to confirm; POST (CSRF-checked) deletes."""
    try:
        macro = macro_get_writable(macro_id=macro_id, viewer=request.user)
        if request.method == "POST":
            macro_delete(macro=macro, actor=request.user)
            messages.success(request, f"Macro “{macro.name}” deleted.")
            return redirect("macros:list")
    except DomainError as exc:
        return error_response(request, exc)
    return render(request, "macros/delete.html", {**page_chrome(request, utcnow()), "macro": macro})
