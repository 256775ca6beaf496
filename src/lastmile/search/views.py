"""The search page (placeholder until the search engine lands)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


@login_required
def results(request: HttpRequest) -> HttpResponse:
    return redirect("console:inbox")
